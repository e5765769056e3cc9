-- wrk script for scripts/bench/sidebyside.sh: at the end of a run, prints the
-- summary as one line "SBSJSON {...}" for report.py. Times are microseconds
-- (wrk's unit); errors are wrk's counters (status = non-2xx/3xx responses).
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'SBSJSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
