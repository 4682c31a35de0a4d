"""`make bench` reads wrk's report: the rate and the latency distribution, never the thread
statistics' "Stdev ... 75.50%" column (which also contains "50%")."""

from bench.auth_throughput import parse_wrk

# wrk 4.2 --latency, as printed; the Stdev column's "75.50%" and "99.05%" come before the distribution.
WRK_REPORT = """Running 10s test @ http://127.0.0.1:8000/api/v1/me
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.34ms    3.21ms  80.12ms   75.50%
    Req/Sec     1.30k   120.45     1.60k    99.05%
  Latency Distribution
     50%   11.80ms
     75%   13.90ms
     90%   16.02ms
     99%    1.02s
  25872 requests in 10.00s, 12.34MB read
  Non-2xx or 3xx responses: 7
Requests/sec:   2587.20
Transfer/sec:      1.23MB
"""


def test_latencies_come_from_the_distribution_not_the_stdev_column() -> None:
    result = parse_wrk("GET /api/v1/me", WRK_REPORT)
    assert result.p50_ms == 11.8
    assert result.p99_ms == 1020.0
    assert result.rps == 2587.2
    assert result.errors == 7


def test_microseconds_and_no_errors() -> None:
    report = WRK_REPORT.replace("11.80ms", "980.00us").replace("  Non-2xx or 3xx responses: 7\n", "")
    result = parse_wrk("GET /healthz", report)
    assert result.p50_ms == 0.98
    assert result.errors == 0
