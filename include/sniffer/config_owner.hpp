// Who else can change the config file (red team R18-1). The config steers a
// privileged sensor (its blocklist, outputs, keys) and a SIGHUP re-reads it,
// so whoever owns the file, or a directory or link on its way, steers the
// sensor at the next reload. Not refused: `sudo sniffer --config
// ./sniffer.json` on a file of the operator's own account is a normal start.
// Said instead, at start and at each reload. (Any local user's write, by
// mode, is refused: load_config_file.)
#pragma once

#include <string>

namespace sniffer {

// "" when only root, us and `sniffer` can change `path`; else one line naming
// the file (escaped for a terminal), what another user owns and that user:
// "config "x.json": owned by uid 65534 (nobody), who can change the sensor's
// configuration at the next reload; chown root or keep it where only root can
// write".
std::string config_owner_warning(const std::string& path);

}  // namespace sniffer
