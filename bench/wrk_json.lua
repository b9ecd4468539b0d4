-- wrk script: after the run, print one line "WRKJSON {...}" with the counts and
-- the latency percentiles in microseconds, for bench/harness.py to read.
--
-- With WRK_TARGETS naming a file of "path<TAB>Header: value<TAB>..." lines,
-- requests go to those paths in turn, each with its own headers (one user's
-- token per path, say); otherwise every request is the URL's GET.
local file = os.getenv("WRK_TARGETS")
if file and file ~= "" then
  local targets = {}
  local i = 0
  -- Built in init, once wrk knows the host (wrk.format adds the Host header).
  init = function(args)
    for line in io.lines(file) do
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do table.insert(fields, field) end
      if #fields > 0 then
        local headers = {}
        for k = 2, #fields do
          local name, value = string.match(fields[k], "^([^:]+):%s*(.*)$")
          if name then headers[name] = value end
        end
        table.insert(targets, wrk.format("GET", fields[1], headers))
      end
    end
  end
  request = function()
    i = i % #targets + 1
    return targets[i]
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p99.9":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.mean, latency.max))
end
