"""summary.md for scripts/gpu/run.sh: each step's outcome, the facts, each suite's checks and cells,
and batch-1 decode speed against the HBM bound. Reads only what the steps left in the work folder
(steps.tsv, <step>.log, <suite>/results.json), so it works whatever subset of the steps finished.

    python3 scripts/gpu/summarize.py --work DIR --out summary.md --mode gpu|rehearse --hbm-bytes-per-s 4.8e12
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

FACT_KEYS = ("python", "torch", "cuda available", "cuda device", "cuda bf16 matmul 4096^3", "module grpc",
             "module google.protobuf")
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
TAIL_LINES = 12


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def steps_section(work: Path) -> list[str]:
    lines = ["| step | outcome | seconds |", "| --- | --- | --- |"]
    failed = []
    for row in read(work / "steps.tsv").splitlines():
        name, rc, seconds, note = (row.split("\t") + ["", "", "", ""])[:4]
        lines.append(f"| {name} | {'ok' if rc == '0' else 'FAILED: ' + note} | {seconds} |")
        if rc != "0":
            failed.append(name)
    for name in failed:
        tail = read(work / f"{name}.log").splitlines()[-TAIL_LINES:]
        if tail:
            lines += ["", f"Last lines of `{name}`:", "", "```", *tail, "```"]
    return lines


def facts_section(work: Path) -> list[str]:
    found = {}
    for line in read(work / "preflight.log").splitlines():
        key, _, value = line.partition(": ")
        if key in FACT_KEYS:
            found[key] = value
    source = read(work / "facts.log").splitlines()[:4]
    return [f"- {k}: {v}" for k, v in found.items()] + [f"- bundle {line}" for line in source if "=" in line]


def fmt(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def cell_row(cell: dict[str, Any]) -> str:
    latency = cell.get("latency") or {}
    metrics = cell.get("metrics") or {}
    overhead = cell.get("overhead") or {}
    what = f"batch {cell['batch']}" if "batch" in cell else f"{cell.get('samplingSteps', '')} tokens"
    if "streaming" in cell:
        what += ", streamed" if cell["streaming"] else ", unary"
    rate = metrics.get("images_per_s")
    rate_text = f"{fmt(rate)} img/s" if rate is not None else f"{fmt(metrics.get('tokens_per_s'))} tok/s"
    cost = "" if not overhead else f"{fmt(overhead.get('estimate'))} ({fmt(overhead.get('pct'))}%)"
    status = "ok" if cell.get("status") == "ok" else f"FAILED {(cell.get('error') or {}).get('code', '')}"
    return (f"| {cell.get('scenario')} | {what} | {cell.get('transport')} | {fmt(latency.get('p50Us'))} | "
            f"{fmt(latency.get('p99Us'))} | {rate_text} | {cost} | {status} |")


def suite_section(work: Path, name: str) -> list[str]:
    path = work / name / "results.json"
    if not path.is_file():
        return [f"No results: the `{name}` step wrote no results.json."]
    result = json.loads(path.read_text())
    cells = result.get("cells", [])
    failed = sum(c.get("status") != "ok" for c in cells)
    lines = [f"Run status **{result.get('status')}**, {len(cells)} cells ({failed} failed)."]
    lines += [f"- {'ok' if c.get('ok') else 'FAIL'} {c.get('name')}: {c.get('detail')}" for c in result.get("checks", [])]
    lines += ["", "| scenario | request | transport | p50 µs | p99 µs | throughput | overhead µs (% of compute) | status |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    return lines + [cell_row(c) for c in cells]


def decode_section(work: Path, mode: str, hbm: float) -> list[str]:
    """tokens/s at batch 1 from bench_decode's lines, against weight bytes per token / HBM bandwidth."""
    text = read(work / "decode.log")
    head = re.search(r"config (\S+) \(.*?([\d.]+)M params.*? on (.*?) (float32|bfloat16|float16),", text)
    steps = re.findall(r"step\s+(\d+): decode\s+([\d.]+) ms/token", text)
    if head is None or not steps:
        return ["No decode figures (see the `decode` step)."]
    config, params_m, device, dtype = head.group(1), float(head.group(2)), head.group(3), head.group(4)
    weight_bytes = params_m * 1e6 * DTYPE_BYTES[dtype]
    bound_ms = weight_bytes / hbm * 1e3
    lines = [f"{config}, {params_m:,.1f}M parameters in {dtype} = {weight_bytes / 1e9:.2f} GB read per token "
             f"(every weight once, the tied embedding as the output layer); on {device}.",
             f"HBM bound: {weight_bytes / 1e9:.2f} GB / {hbm / 1e12:.1f} TB/s = {bound_ms:.3f} ms/token "
             f"({1e3 / bound_ms:,.0f} tokens/s).", ""]
    if mode != "gpu":
        lines += ["(Rehearsal on a CPU: the bound is the H200's and does not apply here.)", ""]
    lines += ["| context | ms/token (median) | tokens/s | share of the HBM bound |", "| --- | --- | --- | --- |"]
    for context, ms in steps:
        lines.append(f"| {context} | {float(ms):.3f} | {1e3 / float(ms):,.1f} | {bound_ms / float(ms) * 100:.1f}% |")
    verdict = re.search(r"slowest / fastest median: .*", text)
    return lines + ([f"", f"`{verdict.group(0)}`"] if verdict else [])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mode", choices=["gpu", "rehearse"], required=True)
    p.add_argument("--hbm-bytes-per-s", type=float, required=True)
    a = p.parse_args()
    title = "sidecar-bench on the GPU machine" if a.mode == "gpu" else "sidecar-bench GPU run, rehearsed on a CPU"
    parts = [f"# {title}", "", *steps_section(a.work), "", "## Facts", "", *facts_section(a.work),
             "", "## CIFAR-10 (cifar-results.json, cifar-report.html)", "", *suite_section(a.work, "cifar"),
             "", "## Decode at batch 1 (sidecars.llm.bench_decode)", "", *decode_section(a.work, a.mode, a.hbm_bytes_per_s),
             "", "## Gemma generation per transport (gemma-results.json, gemma-report.html)", "",
             *suite_section(a.work, "gemma"), ""]
    a.out.write_text("\n".join(parts))


if __name__ == "__main__":
    main()
