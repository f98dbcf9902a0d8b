"""``python -m keras_adastride.models [--write PATH] [--models NAME ...]``: print the table of every
model x downsampling variant (parameters, FLOPs); ``--write`` also writes it (docs/MODELS.md)."""

import argparse
import sys

from keras_adastride.models.table import TABLE, markdown, rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_adastride.models", description=__doc__)
    parser.add_argument("--write", metavar="PATH", help="also write the table to PATH")
    parser.add_argument("--models", nargs="+", metavar="NAME",
                        help="only these builders (default: all)")
    args = parser.parse_args(argv)
    table = TABLE
    if args.models:
        unknown = set(args.models) - {entry[0] for entry in TABLE}
        if unknown:
            parser.error(f"unknown model(s) {sorted(unknown)}; choose from "
                         f"{sorted({entry[0] for entry in TABLE})}")
        table = tuple(entry for entry in TABLE if entry[0] in args.models)
    total = sum(len(entry[2]) for entry in table)
    with _progress_bar(total) as progress:
        text = markdown(list(rows(table, progress)))
    print(text, end="")
    if args.write:
        with open(args.write, "w") as handle:
            handle.write(text)
    return 0


class _progress_bar:
    """tqdm on stderr where installed (the ``dev`` extra), else one stderr line per model."""

    def __init__(self, total, desc="building"):
        self.total, self.done, self.bar, self.desc = total, 0, None, desc
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=desc, file=sys.stderr)

    def __call__(self, label):
        self.done += 1
        if self.bar is None:
            print(f"[{self.done}/{self.total}] {self.desc} {label}", file=sys.stderr, flush=True)
        else:
            self.bar.set_postfix_str(label)
            self.bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


if __name__ == "__main__":
    sys.exit(main())
