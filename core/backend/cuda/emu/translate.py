"""CUDA sources as host C++ for the emulator (build.sh).

    translate.py [--race] OUT FILE.cu... [--header H.cuh...]

Each FILE.cu becomes OUT/FILE.cpp: <<<grid, block, shm, stream>>> launches
become emu_launch calls, told whether the kernel synchronises its block.
Headers (--header) are read for the device functions they define; with
--race they are also written, translated, under OUT/race_inc/<same path>.
--race (the race check, emu_race.h) gives every __shared__ variable one
copy per fiber set: `__shared__ T a[n], b;` becomes `static T a__emu[S][n];
T (&a)[n] = a__emu[emu_race_set()];` and likewise for b, so consecutive
blocks do not share it.
"""
import os
import re
import sys

SYNCING = {'__syncthreads', '__shfl_down_sync', '__shfl_xor_sync', '__shfl_sync', '__shfl_up_sync'}


def device_functions(text):
    """name -> body text of every __global__/__device__ function in text."""
    funcs = {}
    for chunk in re.split(r'(?=__global__|__device__)', text)[1:]:
        m = re.search(r'(\w+)\s*\(', chunk.split('{')[0])
        if m:
            funcs[m.group(1)] = chunk.split('extern "C"')[0]
    return funcs


def syncing_names(texts):
    """Functions that hold __syncthreads or a shuffle, or call one that
    does (to any depth)."""
    funcs = {}
    for t in texts:
        funcs.update(device_functions(t))
    found = set(SYNCING)
    grew = True
    while grew:
        grew = False
        for name, body in funcs.items():
            if name not in found and any(re.search(r'\b%s\b' % re.escape(k), body) for k in found):
                found.add(name)
                grew = True
    return set(n for n in found if n in funcs)


def translate_launches(s, coop_names):
    def rep(m):
        name, cfg, args = m.group(1), m.group(2), m.group(3)
        parts = [p.strip() for p in cfg.split(',')]
        g, b = parts[:2]
        stream = parts[3] if len(parts) > 3 else '(cudaStream_t)0'
        coop = 'true' if name.split('<')[0] in coop_names else 'false'
        # Arguments are evaluated now (std::bind copies them), as a GPU
        # launch does: a graph replays the launch with these values.
        bound = 'std::bind(%s%s)' % (name, ', ' + args if args.strip() else '')
        return 'emu_launch(%s, %s, %s, %s, %s)' % (g, b, coop, stream, bound)
    # Arguments may hold parentheses two deep; a launch may sit in a ternary.
    args = r'\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)'
    return re.sub(r'(\w+(?:<[\w ,]+>)?)\s*<<<(.*?)>>>' + args, rep, s, flags=re.S)


DECLARATOR = re.compile(r'\s*(\w+)\s*((?:\[[^\]]+\])*)\s*$')


def translate_shared(s):
    def rep(m):
        typ, decls = m.group(1).strip(), m.group(2)
        out = []
        for d in decls.split(','):
            dm = DECLARATOR.match(d)
            if not dm:
                raise SystemExit('translate.py: cannot read the __shared__ declarator %r' % d)
            name, dims = dm.group(1), dm.group(2)
            out.append('static %s %s__emu[EMU_RACE_SETS]%s; %s (&%s)%s = %s__emu[emu_race_set()];'
                       % (typ, name, dims, typ, name, dims, name))
        return ' '.join(out)
    return re.sub(r'__shared__\s+([\w:<> ]+?)\s+((?:\w+\s*(?:\[[^\]]+\]\s*)*,\s*)*\w+\s*(?:\[[^\]]+\]\s*)*);',
                  rep, s, flags=re.S)


def main(argv):
    race = argv[:1] == ['--race']
    if race:
        argv = argv[1:]
    out, rest = argv[0], argv[1:]
    headers = rest[rest.index('--header') + 1:] if '--header' in rest else []
    sources = rest[:rest.index('--header')] if '--header' in rest else rest
    head_texts = [open(h).read() for h in headers]
    if race:
        for h, text in zip(headers, head_texts):
            dst = os.path.join(out, 'race_inc', os.path.relpath(h))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            open(dst, 'w').write(translate_shared(text))
    for f in sources:
        s = open(f).read()
        s = translate_launches(s, syncing_names(head_texts + [s]))
        if race:
            s = translate_shared(s)
        open(os.path.join(out, os.path.basename(f)[:-3] + '.cpp'), 'w').write(s)


if __name__ == '__main__':
    main(sys.argv[1:])
