"""Our decoder-only LLM (Gemma 1/2/3 and llama2.c architectures) for the `gemma` model core.

config.py shapes by name, model.py the decoder, kv_cache.py / sampler.py generation,
tokenizer.py SentencePiece and llama2.c tokenizers, loaders/ checkpoint formats, build.py
options -> model, bench_decode.py a decode-speed check.
"""
