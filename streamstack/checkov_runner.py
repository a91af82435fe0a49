"""checkov's CloudFormation runner through its Python API, run by the scan venv's Python
(checkov pins an old boto3, so it cannot share the build's venv). Not imported by the
build: streamstack/scan.py starts it as a script, and nothing of the project is
imported here.

It imports only the CloudFormation runner (the `checkov` command loads every
framework), then waits for one request on stdin, so the build starts it first and its
start-up overlaps rendering:

    {"directory": "/tmp/x"}   scan every template in the directory
    {}                        nothing to scan: exit

and answers one JSON object on stdout: {"failed": [...], "skipped": [...]}, each entry
{"file", "resource", "check_id", "check_name", "comment"}. The results are the ones
`checkov -d DIR --framework cloudformation --skip-download` reports.
"""

import json
import os
import sys


def _reuse_jsonpath_parsers() -> None:
    """bc_jsonpath_ng regenerates its LALR parse tables for every expression it parses
    (about 70 ms each, over a hundred times per scan); build each parser once. The
    generated parser keeps no state between parses, so the results do not change."""
    import ply.yacc
    from bc_jsonpath_ng import parser as jsonpath

    parsers = {}

    def parse_token_stream(self, token_iterator, start_symbol="jsonpath"):
        key = (type(self), start_symbol, self.debug)
        if key not in parsers:
            parsers[key] = ply.yacc.yacc(
                module=self,
                debug=self.debug,
                write_tables=0,
                start=start_symbol,
                errorlog=jsonpath.logger,
            )
        return parsers[key].parse(lexer=jsonpath.IteratorToTokenStream(token_iterator))

    jsonpath.JsonPathParser.parse_token_stream = parse_token_stream


def _warm_up() -> None:
    """While the build renders: the work every scan does first, once per process (the
    jsonpath parser's tables, about a quarter of a second)."""
    from bc_jsonpath_ng.ext import parse

    parse("$.Resources")


def _entry(check) -> dict:
    return {
        "file": check.file_path,
        "resource": check.resource,
        "check_id": check.check_id,
        "check_name": check.check_name,
        "comment": (check.check_result or {}).get("suppress_comment") or "",
    }


def main() -> int:
    # One process, no pool: the build's cfn-lint workers keep the other cores busy, and
    # forking per template costs more than it gains (same results either way).
    os.environ.setdefault("CHECKOV_PARALLELIZATION_TYPE", "none")
    _reuse_jsonpath_parsers()
    from checkov.cloudformation.runner import Runner
    from checkov.runner_filter import RunnerFilter

    _warm_up()
    request = json.loads(sys.stdin.readline() or "{}")
    if not request.get("directory"):
        return 0
    report = Runner().run(
        root_folder=request["directory"],
        runner_filter=RunnerFilter(framework=["cloudformation"], download_external_modules=False),
    )
    json.dump(
        {
            "failed": [_entry(c) for c in report.failed_checks],
            "skipped": [_entry(c) for c in report.skipped_checks],
            "parsing_errors": list(report.parsing_errors),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # The answer is out: skip the interpreter's teardown of checkov's many objects
    # (most of a second, on the build's critical path).
    os._exit(code)
