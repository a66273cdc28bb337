-- wrk: one eth_signTransaction per request on the JSON-RPC signer, auth, policy check,
-- nonce assignment and audit on. Env: CUSTOS_TOKEN, CUSTOS_TENANT, CUSTOS_ACCOUNTS
-- (comma-separated addresses, used in turn). The transactions name no nonce: Custos
-- hands out each account's next one, as web3 callers that leave it to the signer get.
-- Requests are prepared once per thread, so wrk spends its share of the cores on the socket.
local token = os.getenv("CUSTOS_TOKEN")
local path = "/v1/tenants/" .. os.getenv("CUSTOS_TENANT") .. "/eth"
local accounts = {}
for address in string.gmatch(os.getenv("CUSTOS_ACCOUNTS"), "[^,]+") do accounts[#accounts + 1] = address end
local pool, next_index = {}, 0

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  local id = thread_id or 0
  local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  for i = 1, 1024 do
    local from = accounts[(id * 1024 + i) % #accounts + 1]
    local body = '{"jsonrpc":"2.0","id":' .. i .. ',"method":"eth_signTransaction","params":[{"from":"' .. from ..
      '","to":"0x3535353535353535353535353535353535353535","gas":"0x5208","maxFeePerGas":"0x77359400",' ..
      '"maxPriorityFeePerGas":"0x3b9aca00","value":"0x' .. string.format("%x", i) .. '"}]}'
    pool[i] = wrk.format("POST", path, headers, body)
  end
end

function request()
  next_index = next_index % #pool + 1
  return pool[next_index]
end

-- A JSON-RPC error comes back in HTTP 200: count those as failures too.
errors = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) then errors = errors + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("rpc-errors %d\n", errors))
end
