"""How fast `audit verify` walks the hash chain (the daily task's run time).

Drops and creates the PostgreSQL database named in DATABASE_URL (default
ris_bench_audit_verify), writes N real events through audit.services.record (a
valid chain: one patient each, every 20th a list page of 20), then times
audit.chain.verify() and prints events per second.

    .venv/bin/python bench/audit_verify.py --events 50000
"""

import argparse
import os
import time

import audit_setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    audit_setup.setup_django(
        os.environ.get("DATABASE_URL", audit_setup.DEFAULT_URL + "_verify"), fresh=True
    )
    from audit import chain, context, services
    from audit.codes import Action

    started = time.perf_counter()
    with context.system("bench audit_verify"):
        for number in range(args.events):
            count = 20 if number % 20 == 0 else 1
            patients = [(f"P{(number * 7919 + k) % 200_000}", "HOSP") for k in range(count)]
            services.record(Action.PATIENT_RECORD, patients=patients)
    written = time.perf_counter() - started
    print(f"wrote {args.events:,} events in {written:.1f} s ({args.events / written:.0f}/s)")

    started = time.perf_counter()
    result = chain.verify()
    took = time.perf_counter() - started
    assert result.intact, result.summary()
    print(f"verified {result.events:,} events in {took:.2f} s ({result.events / took:,.0f}/s)")
    print(
        f"at that rate ten million events take {10_000_000 / (result.events / took) / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
