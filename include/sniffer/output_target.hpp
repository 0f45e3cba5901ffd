// Where and how an output file is written (OutputFile): decided from the
// name alone, before anything is opened.
#pragma once

#include <fcntl.h>

#include <string>

namespace sniffer {

// The directory part of `path` ("." for a bare name, "/" for the root's files).
std::string directory_of(const std::string& path);
// The last name of `path`: the file's own, in directory_of(path).
std::string file_name_of(const std::string& path);

// How `path` is written, decided from ONE lstat: another user may swap a
// plain file of theirs and a link between two looks (red team R14-2), so
// nothing seen as a plain file is resolved later, and an in-place open does
// not follow what was not a link. `rename_over`: the file a rename replaces
// at commit (`path` itself, new or regular, or the regular file our own link
// leads to); empty: written in place (a pipe, a device, a dangling link of
// ours, which open() creates). Throws Error for another user's link in a
// shared sticky directory (`what` names the file).
struct WriteTarget {
  std::string rename_over;
  int open_flags = O_NOFOLLOW;
};
WriteTarget write_target(const std::string& path, const std::string& what);

// Throws Error when a directory component of `path` is another user's
// symbolic link in a shared sticky directory (/tmp/theirs/flows.csv, with
// /tmp/theirs their link): following it would let them choose the directory
// the file (and anything made beside it) lands in. write_target checks it;
// a caller that makes files beside `path` before (the parts of -j) calls it
// first.
void refuse_foreign_directory_links(const std::string& path, const std::string& what);

// The directory the file `path` is made in, opened once (O_PATH), so that
// everything made there at commit (linkat, renameat) lands in the directory
// opened, not in whatever its name leads to by then: another user who owns a
// directory of the path could swap it for a link between the check and the
// commit (red team R18-2). With `refuse_foreign_links`, it is reached one name
// at a time, each looked up in the directory before, a link followed only
// when refuse_foreign_directory_links would let it be (same error); so what is
// opened is what that check allows, at the moment it is opened. -1 and errno
// when a name is missing or not a directory.
int open_output_directory(const std::string& path, const std::string& what, bool refuse_foreign_links);

// Our descriptor open for writing on the file `path` names (followed), if
// any, such as /dev/stdout, /dev/fd/N or /proc/self/fd/N: written through,
// as the shell opened it (`>>` appends). Resolved to the file behind it and
// renamed over, `>> day.csv` replaced the file, and what went to standard
// output after (the report) went to the old one (red team R14-4). Decided by
// what the name leads to (device and inode), not by its spelling:
// /dev//stdout and /proc/thread-self/fd/1 did the same (R15-3). -1 when no
// such descriptor is open.
int descriptor_named(const std::string& path);

}  // namespace sniffer
