"""What the bench scripts (compare_table.py, roofline.py) share about Google Benchmark's JSON output."""


def pick(entries):
    """The median aggregate when repetitions were run, else the median (by time) of the iteration runs."""
    for e in entries:
        if e.get("run_type") == "aggregate" and e.get("aggregate_name") == "median":
            return e
    iterations = [e for e in entries if e.get("run_type", "iteration") == "iteration"]
    if not iterations:
        return None
    return sorted(iterations, key=lambda e: e["real_time"])[len(iterations) // 2]
