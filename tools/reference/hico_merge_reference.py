#!/usr/bin/env python3
"""Golden fixture for VideoLong's HiCo clip-level token merging (ALGORITHMS.md §1.3, §8.1), written from the spec.

ToMe bipartite soft matching as VideoChat-Flash's "tome16_mlp_hd64" uses it, repeated until K tokens remain:
  schedule: with P tokens left, r = P - K if P - K <= P // 2, else r = P // 2 and continue
  metric:   x.view(B, P, 16, C // 16).mean(2) in fp32, L2-normalised (F.normalize, eps 1e-12)
  A = tokens 0, 2, 4, ...; B = tokens 1, 3, 5, ...; scores = M_A @ M_B^T; best/score = max over B (first max on ties)
  A sorted by score descending with a STABLE sort (ties: lower A index first); first r are merged into their best B:
      x_b <- (s_b x_b + sum s_a x_a) / (s_b + sum s_a),  s_b <- s_b + sum s_a   (scatter_add of size-weighted values)
  output = [unmerged A, descending score] ++ [B in original order]

Usage (plain torch + safetensors, CPU):  python3 tools/reference/hico_merge_reference.py OUT_DIR
Writes OUT_DIR/reference.safetensors and OUT_DIR/reference.json; commit them as tests/fixtures/reference/hico/.
Cases:
  small: 2 clips of 4 frames x 49 tokens x 64 channels (P = 196 -> K = 64, r = [98, 34]), fp32 randn.
  large: 1 clip of 4 frames x 196 tokens x 1024 channels (P = 784 -> K = 64, r = [392, 196, 98, 34]). To keep the
         file small its input is stored as int8 q with x = q / 32 (exact in fp32): large.input_q8.
Tensors per case (NAME = small | large): NAME.input (small only), NAME.tokens [B, K, C], NAME.sizes [B, K], and per
round i: NAME.round{i}.unmerged / .sources / .destinations (int64, indices into A resp. B), NAME.round{i}.sizes.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
import safetensors
from safetensors.torch import save_file

SCRIPT = "tools/reference/hico_merge_reference.py v1"
GROUPS = 16


def schedule(p, k):
    if p <= k:
        raise ValueError(f"P ({p}) must be greater than K ({k})")
    rs = []
    while p > k:
        r = p - k if p - k <= p // 2 else p // 2
        rs.append(r)
        p -= r
    return rs


def merge_round(x, size, r):
    """x [B, P, C] fp32, size [B, P] fp32 -> (x', size', unmerged, sources, destinations)."""
    b, p, c = x.shape
    with torch.no_grad():
        metric = x.float().view(b, p, GROUPS, c // GROUPS).mean(2)
        metric = F.normalize(metric, p=2.0, dim=-1)
        ma, mb = metric[:, ::2, :], metric[:, 1::2, :]
        scores = ma @ mb.transpose(-1, -2)
        score, best = scores.max(dim=-1)
        order = torch.sort(score, dim=-1, descending=True, stable=True).indices
        unm = order[:, r:]
        src = order[:, :r]
        dst = best.gather(1, src)
    xa, xb = x[:, ::2, :], x[:, 1::2, :]
    sa, sb = size[:, ::2], size[:, 1::2]
    unm_x = xa.gather(1, unm[..., None].expand(-1, -1, c))
    unm_s = sa.gather(1, unm)
    src_s = sa.gather(1, src)
    src_w = xa.gather(1, src[..., None].expand(-1, -1, c)) * src_s[..., None]
    dst_w = (xb * sb[..., None]).scatter_add(1, dst[..., None].expand(-1, -1, c), src_w)
    dst_s = sb.scatter_add(1, dst, src_s)
    new_x = torch.cat([unm_x, dst_w / dst_s[..., None]], dim=1)
    new_s = torch.cat([unm_s, dst_s], dim=1)
    return new_x, new_s, unm, src, dst


def merge(x, k, name, out):
    b, p, _ = x.shape
    size = torch.ones(b, p, dtype=x.dtype)
    for i, r in enumerate(schedule(p, k)):
        x, size, unm, src, dst = merge_round(x, size, r)
        assert torch.allclose(size.sum(1), torch.full((b,), float(p))), "sizes must sum to P after every round"
        out[f"{name}.round{i}.unmerged"] = unm
        out[f"{name}.round{i}.sources"] = src
        out[f"{name}.round{i}.destinations"] = dst
        out[f"{name}.round{i}.sizes"] = size.clone()
    assert x.shape[1] == k
    out[f"{name}.tokens"] = x
    out[f"{name}.sizes"] = size
    return x, size


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/reference/hico"
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20250101)
    out = {}

    small = torch.randn(2, 4 * 49, 64, dtype=torch.float32)
    out["small.input"] = small
    merge(small, 64, "small", out)

    q = torch.round(torch.randn(1, 4 * 196, 1024) * 32).clamp(-127, 127).to(torch.int8)
    out["large.input_q8"] = q
    large = q.to(torch.float32) / 32
    merge(large, 64, "large", out)

    for name in ("small", "large"):   # sum(size * value) is preserved
        inp = small if name == "small" else large
        assert torch.allclose((out[f"{name}.tokens"] * out[f"{name}.sizes"][..., None]).sum(1), inp.sum(1), atol=1e-3)

    versions = {"torch": torch.__version__, "safetensors": getattr(safetensors, "__version__", "?"), "script": SCRIPT}
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(out_dir, "reference.safetensors"),
              metadata={"format": "pt", **versions})
    with open(os.path.join(out_dir, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({**versions, "seed": 20250101,
                   "cases": {"small": {"shape": [2, 196, 64], "k": 64, "schedule": schedule(196, 64)},
                             "large": {"shape": [1, 784, 1024], "k": 64, "schedule": schedule(784, 64),
                                       "input": "large.input_q8 (int8) / 32"}}}, f, indent=2)
    print("wrote", out_dir, os.path.getsize(os.path.join(out_dir, "reference.safetensors")), "bytes")


if __name__ == "__main__":
    main()
