"""Start threads at the same moment, for the race tests (real commits, real row locks)."""

from __future__ import annotations

import threading


def run_together(count: int, target) -> list:
    """Run target(0) … target(count - 1) in threads released together by a barrier; their
    results in order, the exception standing in for the result of a thread that raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = target(index)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def race(*calls) -> list:
    """Run the callables at once; their results in order."""
    return run_together(len(calls), lambda index: calls[index]())


def failures(results: list) -> list[BaseException]:
    return [result for result in results if isinstance(result, BaseException)]
