"""Print parameter counts of every network in the `paper` and `lite` configurations.

Beside the reference figures of the method spec, with the deviation of `paper` from them,
and the size of the whole lite set as fp16. Models are built on the `meta` device, so this
runs in seconds and allocates no weights.
"""

import argparse

from mofrr_core.configs import COMPONENTS, PER_TYPE, REFERENCE_PARAMETERS, fp16_megabytes, parameter_counts
from mofrr_core.types import RETOUCH_TYPES


def _millions(count: float) -> str:
    return f"{count / 1e3:.2f}k" if count < 1e5 else f"{count / 1e6:.2f}M"


def table(configs: list[str]) -> str:
    counts = {name: parameter_counts(name) for name in configs}
    header = ["component", *configs, "spec", "paper vs spec"]
    rows = []
    for key in counts[configs[0]]:
        component, part = key
        reference = REFERENCE_PARAMETERS.get(key)
        label = f"{component}.{part}" if part else component
        if component in PER_TYPE and not part:
            label += f" (x{len(RETOUCH_TYPES)})"
        deviation = ""
        if reference and "paper" in counts:
            deviation = f"{100 * (counts['paper'][key] - reference) / reference:+.1f}%"
        rows.append([label, *(_millions(counts[n][key]) for n in configs), _millions(reference) if reference else "-", deviation])
    for name in configs:
        total = sum(counts[name][(c, "")] * (len(RETOUCH_TYPES) if c in PER_TYPE else 1) for c in COMPONENTS)
        rows.append([f"total {name} set", *("" for _ in configs), "", ""])
        rows[-1][1 + configs.index(name)] = f"{_millions(total)} = {fp16_megabytes(name):.1f} MB fp16"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["paper", "lite"], help="named configurations to list")
    print(table(parser.parse_args().configs))


if __name__ == "__main__":
    main()
