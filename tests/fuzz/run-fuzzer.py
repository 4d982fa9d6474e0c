#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs a libFuzzer target for a bounded time, starting from a copy of its seeds.

The seeds (the corpus and the regressions in the source tree) are copied to a temporary
directory that the fuzzer may grow, so the source tree is never written to. Fails when the
fuzzer finds a crash, a leak, a timeout or a sanitizer report; the input that did it is
kept under --artifacts and printed, to be added to tests/fuzz/regressions/<target>/.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--seconds', type=int, required=True)
    parser.add_argument('--artifacts', required=True)
    parser.add_argument('--seeds', action='append', default=[])
    parser.add_argument('--dict')
    parser.add_argument('fuzzer')
    args = parser.parse_args()

    os.makedirs(args.artifacts, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='natter-fuzz-corpus-') as corpus:
        n_seeds = 0
        for seeds in args.seeds:
            # Git keeps no empty directory: a target without regressions has none.
            if not os.path.isdir(seeds):
                continue
            for name in sorted(os.listdir(seeds)):
                path = os.path.join(seeds, name)
                if os.path.isfile(path):
                    kind = os.path.basename(os.path.dirname(os.path.abspath(seeds)))
                    shutil.copy(path, os.path.join(corpus, f'{kind}-{name}'))
                    n_seeds += 1
        if n_seeds == 0:
            sys.exit(f'no seeds in {args.seeds}')

        command = [
            args.fuzzer,
            f'-max_total_time={args.seconds}',
            # A single input that takes this long is a hang.
            '-timeout=30',
            '-print_final_stats=1',
            f'-artifact_prefix={args.artifacts}/',
        ]
        if args.dict:
            command.append(f'-dict={args.dict}')
        command.append(corpus)
        print(' '.join(command), flush=True)
        started = time.time() - 1
        status = subprocess.run(command).returncode

    if status != 0:
        found = sorted(name for name in os.listdir(args.artifacts)
                       if os.path.getmtime(os.path.join(args.artifacts, name)) >= started)
        print(f'{os.path.basename(args.fuzzer)} failed (status {status}); reproducers:',
              *(os.path.join(args.artifacts, name) for name in found), sep='\n  ')
        print(f'Replay one with: {os.path.abspath(args.fuzzer)} FILE', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
