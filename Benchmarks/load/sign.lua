-- wrk: one Ed25519 signature per request, with auth and audit on.
-- Env: CUSTOS_TOKEN, CUSTOS_TENANT, CUSTOS_KEY; optional CUSTOS_DELAY_MS (think time
-- per connection, to hold a rate below the peak for latency measurements).
local token = os.getenv("CUSTOS_TOKEN")
local path = "/v1/tenants/" .. os.getenv("CUSTOS_TENANT") .. "/keys/" .. os.getenv("CUSTOS_KEY") .. "/sign"
local think = tonumber(os.getenv("CUSTOS_DELAY_MS") or "0")
local counter = 0

function request()
  counter = counter + 1
  -- 32-byte messages that differ per request (base64 of a padded counter).
  local message = string.format("%032d", counter)
  local body = '{"message":"' .. base64(message) .. '"}'
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

function delay()
  return think
end

local status_counts = {}
function response(status, headers, body)
  if status ~= 200 then
    error("unexpected status " .. status .. ": " .. body)
  end
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
