#!/usr/bin/env bash
# Installs mmd as a systemd service on this machine (run as root from the repository root).
#   deploy/install.sh            build, install binary, config skeleton and unit
# Then: put the API secret in /etc/mmd/api-secret (mode 0600), edit /etc/mmd/mmd.yaml and the
# strategy files, run `mmd validate`, and `systemctl enable --now mmd`.
set -euo pipefail
cd "$(dirname "$0")/.."

# -buildvcs=auto embeds the commit (mmd version) even where GOFLAGS turns it off.
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
go build -trimpath -buildvcs=auto -ldflags "-X main.version=$version" -o /usr/local/bin/mmd ./cmd/mmd
id mmd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mmd
install -d -m 0750 -o root -g mmd /etc/mmd /etc/mmd/strategies
[ -e /etc/mmd/mmd.yaml ] || install -m 0640 -o root -g mmd deploy/mmd.yaml /etc/mmd/mmd.yaml
for f in deploy/strategies/*.yaml; do
	[ -e "/etc/mmd/strategies/$(basename "$f")" ] || install -m 0640 -o root -g mmd "$f" /etc/mmd/strategies/
done
[ -e /etc/mmd/mmd.env ] || install -m 0640 -o root -g mmd deploy/mmd.env.example /etc/mmd/mmd.env
install -D -m 0644 README.md /usr/share/doc/mmd/README.md  # the unit's Documentation=
install -m 0644 systemd/mmd.service /etc/systemd/system/mmd.service
systemctl daemon-reload 2>/dev/null || true
echo "installed; next: /etc/mmd/api-secret, /etc/mmd/mmd.yaml, mmd validate --config /etc/mmd/mmd.yaml, systemctl enable --now mmd"
