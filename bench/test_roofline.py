#!/usr/bin/env python3
"""Checks bench/roofline.py's math (not run by CI): python3 bench/test_roofline.py"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roofline  # noqa: E402

P, B = 200e9, 50e9  # ridge at 4 FLOP/B


class RoofTest(unittest.TestCase):
    def test_memory_bound_below_the_ridge(self):
        # add: 1 FLOP per 12 bytes at 40 GB/s
        intensity, bound, value, share = roofline.roof(40e9 / 12, 40e9, P, B)
        self.assertAlmostEqual(intensity, 1 / 12)
        self.assertEqual(bound, "memory")
        self.assertAlmostEqual(value / (B / 12), 1.0)
        self.assertAlmostEqual(share, 0.8)

    def test_compute_bound_above_the_ridge(self):
        intensity, bound, value, share = roofline.roof(150e9, 15e9, P, B)  # 10 FLOP/B
        self.assertAlmostEqual(intensity, 10)
        self.assertEqual(bound, "compute")
        self.assertEqual(value, P)
        self.assertAlmostEqual(share, 0.75)

    def test_at_the_ridge_is_compute(self):
        self.assertEqual(roofline.roof(100e9, 25e9, P, B)[1], "compute")

    def test_one_counter(self):
        self.assertEqual(roofline.roof(None, 25e9, P, B), (None, "memory", B, 0.5))
        self.assertEqual(roofline.roof(50e9, None, P, B), (None, "compute", P, 0.25))
        with self.assertRaises(ValueError):
            roofline.roof(None, None, P, B)

    def test_table_from_json(self):
        data = {"benchmarks": [
            {"name": "peak/fma/iterations:3", "run_type": "iteration", "real_time": 1, "FLOP/s": P},
            {"name": "peak/stream_triad", "run_type": "iteration", "real_time": 1, "bytes_per_second": B},
            {"name": "a/real_time", "run_type": "iteration", "real_time": 1, "bytes_per_second": 10e9},
            {"name": "b", "run_type": "iteration", "real_time": 1, "FLOP/s": 180e9, "bytes_per_second": 1e9},
            {"name": "c", "run_type": "iteration", "real_time": 1},  # no counter: left out
            {"name": "d", "run_type": "iteration", "real_time": 1, "bytes_per_second": 40e9},
            {"name": "d", "run_type": "iteration", "real_time": 2, "bytes_per_second": 20e9},
            {"name": "d", "run_type": "iteration", "real_time": 3, "bytes_per_second": 10e9},
        ]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(data, f)
        try:
            runs = roofline.load_runs([f.name])
            self.assertEqual(roofline.find_peak(runs, "peak/fma", "FLOP/s"), P)
            self.assertEqual(roofline.find_peak(runs, "peak/stream_triad", "bytes_per_second"), B)
            rows = roofline.mark_worst(roofline.build_rows(runs, P, B), 2)
        finally:
            os.unlink(f.name)
        self.assertEqual([r["name"] for r in rows], ["a", "b", "d"])
        self.assertEqual([round(r["share"], 3) for r in rows], [0.2, 0.9, 0.4])  # d: the median run
        self.assertEqual([r["worst"] for r in rows], [True, False, True])
        self.assertIn("*", roofline.render(rows, markdown=True))


if __name__ == "__main__":
    unittest.main()
