-- Shared by the wrk scripts: spreads wrk's threads over the gateways whose ports GATEWAY_PORTS
-- lists ("18480,18481", `BENCH_INSTANCES`): the n-th thread connects to the n-th gateway, round
-- robin. Unset, every thread connects to the URL's own port.
local ports = {}
for port in string.gmatch(os.getenv("GATEWAY_PORTS") or "", "%d+") do
  ports[#ports + 1] = port
end
local spread_threads = 0

function spread(thread)
  if #ports == 0 then
    return
  end
  spread_threads = spread_threads + 1
  thread.addr = wrk.lookup(wrk.host, ports[(spread_threads - 1) % #ports + 1])[1]
end
