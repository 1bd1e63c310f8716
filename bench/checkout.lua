-- `make bench`: signed-in buyers loop add to cart -> checkout page -> place
-- the order.
--
-- One connection per wrk thread, so each thread is one shopper with its own
-- session. bench/run.py signs the shoppers in first and writes their session
-- cookies and CSRF tokens to the file named by the first script argument
-- (a Lua table, one entry per thread). Each response's Set-Cookie replaces the
-- session (the cart lives in it). The checkout page gives what its form sends
-- back (the cart's token, the prices it showed, the delivery and payment it
-- chose); the buyer types in the same new address every time.
-- The third argument, when given, is a pause in milliseconds before each new
-- order: a paced write load rather than buyers flat out.
-- At the end the script prints "CHECKOUTS <bought> <turned away>".

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  local shopper = dofile(args[1])[number]
  item_id = args[2]
  pause = tonumber(args[3] or "0")
  cookie = shopper.cookie
  csrf = shopper.csrf
  step = 1
  order = nil
  bought = 0
  turned_away = 0
end

local ship_to = {
  address_id = "", name = "Bench Buyer", line1 = "1 Oak Street", line2 = "",
  city = "Portland", postcode = "97205", country = "US",
}

-- The checkout page's order form, or nil when the page has no token.
local function order_form(body)
  local fields = { csrf_token = csrf }
  for _, name in ipairs({ "token", "seen_prices", "seen_shipping", "seen_tax" }) do
    fields[name] = body:match('name="' .. name .. '" type="hidden" value="([^"]*)"')
    if not fields[name] then return nil end
  end
  if fields.token == "" then return nil end
  for _, name in ipairs({ "shipping", "payment" }) do
    fields[name] = body:match('name="' .. name .. '" value="([^"]+)" checked') or ""
  end
  for name, value in pairs(ship_to) do fields[name] = value end
  return fields
end

local function form(fields)
  local parts = {}
  for key, value in pairs(fields) do
    table.insert(parts, key .. "=" .. value:gsub("[^%w%-_%.~]", function(c)
      return string.format("%%%02X", string.byte(c))
    end))
  end
  return table.concat(parts, "&")
end

function delay()
  if step == 1 then return pause end
  return 0
end

function request()
  local headers = { ["Cookie"] = cookie }
  if step == 1 then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/purchases/cart", headers,
      form({ csrf_token = csrf, item_id = item_id, quantity = "1" }))
  elseif step == 2 then
    return wrk.format("GET", "/purchases/checkout", headers)
  else
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/purchases/checkout", headers, form(order))
  end
end

function response(status, headers, body)
  local set = headers["Set-Cookie"]
  if set then
    local session = set:match("(session=[^;]+)")
    if session then cookie = session end
  end
  if step == 1 then
    step = (status == 302) and 2 or 1
  elseif step == 2 then
    order = order_form(body)
    step = order and 3 or 1
  else
    local location = headers["Location"] or ""
    if status == 302 and location:find("/purchases/orders/", 1, true) then
      bought = bought + 1
    else
      turned_away = turned_away + 1
    end
    step = 1
  end
end

function done(summary, latency, requests)
  local total_bought, total_turned_away = 0, 0
  for _, thread in ipairs(threads) do
    total_bought = total_bought + thread:get("bought")
    total_turned_away = total_turned_away + thread:get("turned_away")
  end
  io.write(string.format("CHECKOUTS %d %d\n", total_bought, total_turned_away))
end
