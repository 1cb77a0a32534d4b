/**
 * `sluice service install`: a complete systemd unit for this binary, printed for the operator to
 * put in place (nothing on the system is changed). A dedicated user, the state directory systemd
 * creates for it, the config and env-file paths, and the hardening a network daemon should have.
 */
export interface ServiceOptions {
  binary: string
  config: string
  envFile: string
  user: string
  /** The config's shutdown grace: systemd must wait longer before it kills the process. */
  shutdownGraceMs: number
}

export function systemdUnit(o: ServiceOptions): string {
  const stopSeconds = Math.ceil(o.shutdownGraceMs / 1000) + 15
  return `# sluice as a systemd service. To install:
#   sudo useradd --system --home-dir /var/lib/sluice --shell /usr/sbin/nologin ${o.user}
#   sudo install -d -m 0750 -o root -g ${o.user} ${dirOf(o.config)}
#   sluice service install | sudo tee /etc/systemd/system/sluice.service
#   sudo systemctl daemon-reload && sudo systemctl enable --now sluice
#   journalctl -u sluice -f          # the log; the first admin token and client key appear here once
# sluice listens on 127.0.0.1 by default: put a TLS reverse proxy (Caddy, nginx) in front of it on a
# VPS, or set server.host: 0.0.0.0 only behind a firewall.
[Unit]
Description=sluice LLM gateway
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User=${o.user}
Group=${o.user}
ExecStart=${o.binary} serve --config ${o.config}
ExecReload=/bin/kill -HUP $MAINPID
EnvironmentFile=-${o.envFile}
# /var/lib/sluice, created for the service user; a relative database path in the config is next to
# the config file, so the config says database: { url: file:/var/lib/sluice/sluice.db }.
StateDirectory=sluice
StateDirectoryMode=0750
WorkingDirectory=/var/lib/sluice
Restart=on-failure
RestartSec=2
# Above server.shutdown_grace_ms (${o.shutdownGraceMs} ms), so streams can finish on stop.
TimeoutStopSec=${stopSeconds}
LimitNOFILE=65536

NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
LockPersonality=true
SystemCallArchitectures=native
CapabilityBoundingSet=
UMask=0027

[Install]
WantedBy=multi-user.target
`
}

function dirOf(path: string): string {
  const at = path.lastIndexOf('/')
  return at > 0 ? path.slice(0, at) : '/etc/sluice'
}
