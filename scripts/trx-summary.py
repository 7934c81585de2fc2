#!/usr/bin/env python3
"""Counts test outcomes in the TRX files under a directory (dotnet test --logger trx).

Prints the names of failed tests with the first lines of their error messages (and the aborted test runs), then one
line "N passed, N failed[, N skipped]". CI keeps only the tail of the output, so the reason a test failed is said here.
Exit status: 0 if at least one test ran and none failed, 1 otherwise.
"""
import pathlib
import sys
import xml.etree.ElementTree as ET

NS = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
# TRX outcomes that mean "did not pass". Anything else but Passed counts as skipped (NotExecuted is how VSTest
# records a skipped test).
FAILED = {"Failed", "Error", "Timeout", "Aborted"}


# How much of a failed test's error message and stack trace to print under its name.
MESSAGE_LINES = 8
STACK_LINES = 4


def error_excerpt(result: ET.Element) -> str:
    """The first lines of a failed result's message and stack trace, indented under its name."""
    info = result.find(f"{NS}Output/{NS}ErrorInfo")
    if info is None:
        return ""
    message = (info.findtext(f"{NS}Message") or "").strip().splitlines()[:MESSAGE_LINES]
    stack = (info.findtext(f"{NS}StackTrace") or "").strip().splitlines()[:STACK_LINES]
    return "".join(f"\n    {line.strip()}" for line in message + stack if line.strip())


def main() -> int:
    results_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    passed = failed = skipped = 0
    failed_names: list[str] = []
    for trx in sorted(results_dir.rglob("*.trx")):
        try:
            root = ET.parse(trx).getroot()
        except ET.ParseError as e:
            failed += 1
            failed_names.append(f"{trx.name}: unreadable TRX ({e})")
            continue
        file_failed = 0
        for result in root.iter(f"{NS}UnitTestResult"):
            outcome = result.get("outcome", "")
            if outcome == "Passed":
                passed += 1
            elif outcome in FAILED:
                file_failed += 1
                failed_names.append(result.get("testName", "?") + error_excerpt(result))
            else:
                skipped += 1
        failed += file_failed
        # A crashed or hung test host (killed by --blame-hang-timeout) leaves no failed result, only a run-level
        # error: count it as one failure so the summary line cannot read "0 failed" for a broken run.
        errors = [(info.findtext(f"{NS}Text") or "").strip() for info in root.iter(f"{NS}RunInfo")
                  if info.get("outcome") == "Error"]
        hangs = [(info.findtext(f"{NS}Text") or "").strip() for info in root.iter(f"{NS}RunInfo")
                 if "inactivity time" in (info.findtext(f"{NS}Text") or "")]
        summary = root.find(f"{NS}ResultSummary")
        run_failed = summary is not None and summary.get("outcome") in {"Failed", "Aborted", "Error", "Timeout"}
        if run_failed and file_failed == 0 and errors:
            failed += 1
            unit = next(root.iter(f"{NS}UnitTest"), None)
            assembly = pathlib.Path(unit.get("storage", "")).name if unit is not None else trx.name
            reason = " ".join((errors + hangs)[:2]).replace("\n", " ")[:300]
            failed_names.append(f"{assembly or trx.name}: test run aborted ({reason})")

    for name in failed_names:
        print(f"FAILED {name}")
    if passed + failed + skipped == 0:
        print(f"error: no test ran (no results in {results_dir})", file=sys.stderr)

    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
    return 0 if failed == 0 and passed + failed + skipped > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
