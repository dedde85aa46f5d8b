-- SPDX-License-Identifier: GPL-3.0-or-later
-- Prosody config for one certwatch lab instance ($name), written by lab.py.
run_as_root = true
daemonize = false
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$dir/certs"
plugin_paths = {}
interfaces = { "$ip" }
local_interfaces = { "$ip" }
c2s_interfaces = { "$ip" }
s2s_interfaces = { "$ip" }
component_interfaces = { "$ip" }
c2s_ports = { $c2s_ports }
c2s_direct_tls_ports = { $c2s_direct_tls_ports }
s2s_ports = { $s2s_ports }
s2s_direct_tls_ports = { $s2s_direct_tls_ports }
component_ports = { $component_ports }
http_ports = {}
https_ports = {}
-- Without this each first reply waits for Nagle (about 43 ms).
network_settings = { nagle = false }
log = {
	{ levels = { min = "$loglevel" }, to = "file", filename = "$dir/prosody.log" };
}
ssl = { certificate = "$cert"; key = "$key" }
c2s_direct_tls_ssl = { certificate = "$cert"; key = "$key" }
s2s_direct_tls_ssl = { certificate = "$cert"; key = "$key" }
modules_enabled = {
	"roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix";
	"private"; "offline"; "vcard_legacy"; "version"; "uptime"; "time";
}
modules_disabled = { $modules_disabled }
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
s2s_require_encryption = false
s2s_secure_auth = false
allow_unencrypted_plain_auth = true
limits = {
	c2s = { rate = "10mb/s" };
	s2sin = { rate = "10mb/s" };
}
$hosts
