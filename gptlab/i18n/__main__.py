"""python -m gptlab.i18n {extract,build,check} [LANG] [--lesson NN]

    extract zh_CN   bring locale/zh_CN/LC_MESSAGES/*.po up to date with the English notebooks
                    (and the package catalog with the package's strings)
    build zh_CN     write notebooks/zh_CN/*.ipynb from the catalogs, running each changed one
    check [zh_CN]   fail when an entry is missing or stale, or a built notebook is out of date
"""
from __future__ import annotations

import argparse
import sys

from . import LANGUAGES, SOURCE_LANGUAGE, package
from . import notebooks as nbs


def main(argv: list[str] | None = None) -> int:
    targets = [lang for lang in LANGUAGES if lang != SOURCE_LANGUAGE]
    parser = argparse.ArgumentParser(prog="python -m gptlab.i18n", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("extract", "build", "check"))
    parser.add_argument("lang", nargs="?", default=targets[0], choices=targets)
    parser.add_argument("--lesson", action="append", default=[],
                        help="only the lessons whose file name starts with this (e.g. 03); repeatable")
    parser.add_argument("--no-run", action="store_true", help="build: write the notebooks without running them")
    parser.add_argument("--force", action="store_true",
                        help="build: rerun every notebook, even those whose sources did not change")
    parser.add_argument("--started", action="store_true",
                        help="check: only the lessons already built into notebooks/LANG "
                             "(while a translation is under way)")
    args = parser.parse_args(argv)
    lessons = [p for p in nbs.lesson_notebooks() if not args.lesson or any(p.name.startswith(x) for x in args.lesson)]
    if args.lesson and not lessons:
        parser.error(f"--lesson {args.lesson} matches no notebook in notebooks/")
    if args.command == "extract":
        for lesson, counts in nbs.extract(args.lang, lessons).items():
            print(f"{lesson}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        counts = package.extract(args.lang)
        print("gptlab (package strings): " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        return 0
    if args.command == "build":
        for lesson, what in nbs.build(args.lang, lessons, run=not args.no_run, force=args.force).items():
            print(f"{lesson}: {what}", flush=True)
        return 0
    problems = nbs.check(args.lang, lessons, started_only=args.started)
    pkg = package.check(args.lang)
    for p in problems + pkg[:10]:
        print(p)
    if len(pkg) > 10:
        print(f"... and {len(pkg) - 10} more package strings")
    problems += pkg
    checked = [p.stem for p in lessons if not args.started or nbs.built_path(args.lang, p.stem).exists()]
    print(f"{len(problems)} problems in {len(checked)} lessons and the package catalog ({args.lang})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
