-- synprint's forward-auth check for HAProxy 2.5 and later (docs/API.md, "Forward-auth").
--
-- Before a request is passed on, asks synprint's GET /v1/auth about the client that sent it and
-- sets the answer as request headers for the backend: X-Synprint-Verdict, -Reasons, -Score,
-- -OS, -Family and -TLS. Headers of those names that the client sent are removed first.
--
--   global
--       lua-load /usr/local/share/synprint/haproxy/synprint.lua   (tools/install.sh puts it there)
--   frontend web
--       http-request lua.synprint-check 127.0.0.1:8249
--       http-request deny deny_status 403 if { var(txn.synprint_blocked) -m bool }
--
-- The action's argument is synprint's API address. With an API key (--api-key-file), set it
-- before the check: http-request set-var(txn.synprint_key) str(KEY). When synprint does not answer (stopped, or slower than a second) the request is passed
-- on without a verdict: the check fails open. To fail closed instead, deny when no verdict came:
--       http-request deny deny_status 503 unless { req.hdr(X-Synprint-Verdict) -m found }
-- 403 only comes with synprint's --auth-block-score; it sets txn.synprint_blocked.

local answers = {
    "x-synprint-verdict", "x-synprint-reasons", "x-synprint-score", "x-synprint-os", "x-synprint-family", "x-synprint-tls",
}
-- Request headers synprint reads beside the client's address and port (as /v1/check does).
local passed = { "user-agent", "sec-ch-ua-platform", "via", "forwarded" }

-- The first value of a header in HAProxy's Lua header tables (indexed from 0).
local function first(values)
    if values == nil then return nil end
    return values[0] or values[1]
end

core.register_action("synprint-check", { "http-req" }, function(txn, address)
    for _, name in ipairs(answers) do txn.http:req_del_header(name) end
    local request = txn.http:req_get_headers()
    local headers = {
        ["x-real-ip"] = { txn.f:src() },
        ["x-real-port"] = { tostring(txn.f:src_port()) },
    }
    for _, name in ipairs(passed) do
        local value = first(request[name])
        if value ~= nil then headers[name] = { value } end
    end
    local key = txn:get_var("txn.synprint_key")
    if key ~= nil and key ~= "" then headers["x-synprint-key"] = { key } end
    local client = core.httpclient()
    local ok, response = pcall(client.get, client, { url = "http://" .. address .. "/v1/auth", headers = headers, timeout = 1000 })
    if not ok or response == nil or (response.status ~= 200 and response.status ~= 403) then return end
    if response.status == 403 then txn:set_var("txn.synprint_blocked", true) end
    for _, name in ipairs(answers) do
        local value = first(response.headers[name])
        if value ~= nil and value ~= "" then txn.http:req_set_header(name, value) end
    end
end, 1)
