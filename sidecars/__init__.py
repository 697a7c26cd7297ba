"""sidecar-bench's Python sidecar: model cores behind thin protocol front-ends."""
