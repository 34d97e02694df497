#!/usr/bin/python3
"""Converts weights between PyTorch checkpoints and safetensors.

  convert_weights.py IN.pth OUT.safetensors [rules]   PyTorch -> safetensors
  convert_weights.py IN.safetensors OUT.pth [rules]   safetensors -> PyTorch

A PyTorch input may be a state dict, a dict holding one under 'state_dict',
'model', 'module' or 'net' (nested wrappers are unwrapped in turn; other
entries such as 'optimizer' or 'epoch' are dropped), or a pickled nn.Module.
Torchvision ResNets, LVM-Med's released ResNet-50 ('module.'/'encoder.'
prefixes: --strip-prefix) and SAM checkpoints (--keep '^image_encoder\\.'
--strip-prefix image_encoder.) all convert with these rules, applied in
this order to every key (--keep and --drop see the names as in the input):

  --keep REGEX          keep only keys matching REGEX (repeatable: any)
  --drop REGEX          drop keys matching REGEX (repeatable)
  --strip-prefix P      remove prefix P where present (repeatable, in order)
  --rename OLD=NEW      re.sub(OLD, NEW, key) (repeatable, in order)
  --add-prefix P        prepend P to every key
  --dtype D             keep | float32 | float64 | float16 for float tensors

Every action is printed (how many keys each rule touched, the resulting key
count and dtypes) so a conversion can be checked by eye. Uses torch from
/usr/bin/python3 and tools/fixtures/safetensors_io.py (numpy only); no
safetensors package needed.
"""
import argparse
import collections
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
import safetensors_io  # noqa: E402

WRAPPER_KEYS = ("state_dict", "model", "module", "net")
DTYPES = {"keep": None, "float32": np.float32, "float64": np.float64, "float16": np.float16}


def log(msg):
    print("convert_weights: " + msg)


def is_safetensors(path):
    return path.endswith(".safetensors")


def unwrap(obj):
    """The state dict inside a checkpoint object, as an ordered {name: tensor}."""
    import torch

    if isinstance(obj, torch.nn.Module):
        log("input is a pickled %s: using its state_dict()" % type(obj).__name__)
        obj = obj.state_dict()
    while isinstance(obj, dict):
        tensors = [k for k, v in obj.items() if torch.is_tensor(v)]
        if tensors:
            break
        inner = [k for k in WRAPPER_KEYS if isinstance(obj.get(k), (dict, torch.nn.Module))]
        if not inner:
            raise SystemExit("convert_weights: no tensors and none of %s in the checkpoint (keys: %s)"
                             % (", ".join(WRAPPER_KEYS), ", ".join(map(str, list(obj)[:20]))))
        log("unwrapping checkpoint['%s'] (other entries dropped: %s)"
            % (inner[0], ", ".join(str(k) for k in obj if k != inner[0]) or "none"))
        obj = obj[inner[0]]
        if isinstance(obj, torch.nn.Module):
            obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise SystemExit("convert_weights: checkpoint holds a %s, not a state dict" % type(obj).__name__)
    out = collections.OrderedDict()
    skipped = []
    for k, v in obj.items():
        if torch.is_tensor(v):
            out[str(k)] = v
        else:
            skipped.append(str(k))
    if skipped:
        log("skipped %d non-tensor entries: %s" % (len(skipped), ", ".join(skipped[:10])))
    return out


def to_numpy(t):
    """A C-contiguous numpy copy of a torch tensor (bfloat16 widens to float32)."""
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    # np.array keeps 0-d tensors (num_batches_tracked) 0-d; ascontiguousarray would not
    return np.array(t.numpy(), order="C", copy=True)


def apply_rules(tensors, args):
    """Applies keep/drop/strip/rename/add-prefix/dtype to an ordered {name: np.ndarray}."""
    names = list(tensors)
    if args.keep:
        pats = [re.compile(p) for p in args.keep]
        kept = [n for n in names if any(p.search(n) for p in pats)]
        log("--keep %s: kept %d of %d keys" % (" | ".join(args.keep), len(kept), len(names)))
        names = kept
    for pat in args.drop or []:
        p = re.compile(pat)
        dropped = [n for n in names if p.search(n)]
        names = [n for n in names if not p.search(n)]
        log("--drop %s: dropped %d keys%s" % (pat, len(dropped), (" (" + ", ".join(dropped[:5]) +
                                                                  (", ..." if len(dropped) > 5 else "") + ")")
                                             if dropped else ""))
    renamed = {n: n for n in names}
    for prefix in args.strip_prefix or []:
        hit = 0
        for n in names:
            if renamed[n].startswith(prefix):
                renamed[n] = renamed[n][len(prefix):]
                hit += 1
        log("--strip-prefix %s: %d of %d keys" % (prefix, hit, len(names)))
    for rule in args.rename or []:
        if "=" not in rule:
            raise SystemExit("convert_weights: --rename %r: want OLD=NEW" % rule)
        old, new = rule.split("=", 1)
        p = re.compile(old)
        hit = 0
        for n in names:
            r = p.sub(new, renamed[n])
            hit += r != renamed[n]
            renamed[n] = r
        log("--rename %s: %d keys changed" % (rule, hit))
    if args.add_prefix:
        for n in names:
            renamed[n] = args.add_prefix + renamed[n]
        log("--add-prefix %s: %d keys" % (args.add_prefix, len(names)))
    out = collections.OrderedDict()
    for n in names:
        r = renamed[n]
        if r in out:
            raise SystemExit("convert_weights: two keys map to '%s' (one from '%s')" % (r, n))
        out[r] = tensors[n]
    want = DTYPES[args.dtype]
    if want is not None:
        changed = 0
        for n, a in out.items():
            if np.issubdtype(a.dtype, np.floating) and a.dtype != want:
                out[n] = a.astype(want)
                changed += 1
        log("--dtype %s: %d float tensors converted" % (args.dtype, changed))
    return out


def summary(tensors):
    counts = collections.Counter(str(a.dtype) for a in tensors.values())
    numel = sum(int(a.size) for a in tensors.values())
    return "%d tensors, %d elements (%s)" % (len(tensors), numel,
                                            ", ".join("%s: %d" % kv for kv in sorted(counts.items())))


def load_any(path):
    """{name: np.ndarray} from a safetensors file or a PyTorch checkpoint."""
    if is_safetensors(path):
        return collections.OrderedDict(safetensors_io.load(path))
    import torch

    obj = torch.load(path, map_location="cpu")
    return collections.OrderedDict((k, to_numpy(v)) for k, v in unwrap(obj).items())


def save_any(path, tensors):
    if is_safetensors(path):
        safetensors_io.save(path, tensors)
    else:
        import torch

        torch.save(collections.OrderedDict((k, torch.from_numpy(np.array(a))) for k, a in tensors.items()), path)


def convert(src, dst, args):
    tensors = load_any(src)
    log("read %s: %s" % (src, summary(tensors)))
    tensors = apply_rules(tensors, args)
    save_any(dst, tensors)
    log("wrote %s: %s" % (dst, summary(tensors)))
    return tensors


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--keep", action="append", metavar="REGEX")
    p.add_argument("--drop", action="append", metavar="REGEX")
    p.add_argument("--strip-prefix", action="append", metavar="P")
    p.add_argument("--rename", action="append", metavar="OLD=NEW")
    p.add_argument("--add-prefix", metavar="P")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="keep")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if is_safetensors(args.input) == is_safetensors(args.output):
        raise SystemExit("convert_weights: one of input/output must be .safetensors and the other a PyTorch file")
    convert(args.input, args.output, args)


if __name__ == "__main__":
    main()
