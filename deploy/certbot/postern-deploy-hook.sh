#!/bin/sh
# certbot deploy hook (docs/DEPLOY.md): after a renewal of the edge's wildcard certificate,
# install it where the edge reads it, readable by the postern group only, and have the edge
# re-read it (SIGHUP: open tunnels and requests are not interrupted).
#   certbot ... --deploy-hook /etc/postern/postern-deploy-hook.sh
# or copy it to /etc/letsencrypt/renewal-hooks/deploy/.
set -eu

# certbot names the renewed lineage; other certificates on this host are none of our business.
case "${RENEWED_LINEAGE:-}" in
  */edge.example.com) ;;
  *) exit 0 ;;
esac

dest=/etc/postern/tls
install -d -o root -g postern -m 0750 "$dest"
# Write new files beside the old ones, then rename: the edge never reads half a file.
install -o root -g postern -m 0640 "$RENEWED_LINEAGE/fullchain.pem" "$dest/fullchain.pem.new"
install -o root -g postern -m 0640 "$RENEWED_LINEAGE/privkey.pem" "$dest/privkey.pem.new"
mv -f "$dest/fullchain.pem.new" "$dest/fullchain.pem"
mv -f "$dest/privkey.pem.new" "$dest/privkey.pem"

systemctl reload postern-edge.service
