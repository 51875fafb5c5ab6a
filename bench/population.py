"""The demo directory plus N generated employees, for benchmarks that need many distinct people."""

from __future__ import annotations

from dataclasses import replace

from engops.sandbox.directory import Directory, Person, demo_directory


def with_generated_people(count: int, manager: str = "mona") -> Directory:
    base = demo_directory()
    extra = tuple(
        Person(
            handle=f"load{i:04d}",
            name=f"Load Tester {i}",
            slack_id=f"U9{i:07d}",
            okta_id=f"00u9{i:016d}",
            manager=manager,
            okta_groups=("everyone",),
            iam_user=f"load{i:04d}",
        )
        for i in range(count)
    )
    return replace(base, people=base.people + extra)
