"""Write a full-size random-weight model cache (.safetensors) with the official key names.

Usage: python3 tools/make_random_cache.py ../shared/reference-keys/keys-512.txt out.safetensors [f16|f32]

For memory measurements only (`bench --model out.safetensors`): the weights are a repeated
block of small random values, the schedule buffers are zeros in f32 (the cache keeps every
non-weight buffer in f32). Standard library only: the output is standard safetensors.
"""
import json
import random
import struct
import sys

keys_file, out_path = sys.argv[1], sys.argv[2]
dtype = sys.argv[3] if len(sys.argv) > 3 else "f16"
elem, st_name, fmt = (2, "F16", "e") if dtype == "f16" else (4, "F32", "f")

rng = random.Random(7)
block = b"".join(struct.pack("<" + fmt, rng.uniform(-0.02, 0.02)) for _ in range(1 << 16))
BUFFERS = {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
           "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
           "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
           "posterior_mean_coef1", "posterior_mean_coef2", "scale_arr"}

entries = []
offset = 0
with open(keys_file) as f:
    for line in f:
        name, shape, _ = line.rstrip("\n").split("\t")
        shape = json.loads(shape)
        n = 1
        for d in shape:
            n *= d
        size = 4 if name in BUFFERS else elem
        entries.append((name, shape, "F32" if name in BUFFERS else st_name, offset, offset + n * size))
        offset += n * size

header = {name: {"dtype": dt, "shape": shape, "data_offsets": [b, e]} for name, shape, dt, b, e in entries}
raw = json.dumps(header, separators=(",", ":")).encode()
raw += b" " * ((8 - len(raw) % 8) % 8)
with open(out_path, "wb") as out:
    out.write(struct.pack("<Q", len(raw)))
    out.write(raw)
    for name, shape, dt, b, e in entries:
        left = e - b
        if dt == "F32" and name in BUFFERS:
            out.write(b"\0" * left)
            continue
        while left > 0:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            left -= len(chunk)
print(f"wrote {out_path}: {len(entries)} tensors, {offset / 1e9:.2f} GB of data")
