// --read-pcap's inputs: the list resolved from files, directories and
// patterns, and the merge of several files into one stream by timestamp.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sniffer/capture_inputs.hpp"
#include "sniffer/capture_merge.hpp"
#include "sniffer/error.hpp"
#include "temp_dir.hpp"

namespace sniffer {
namespace {

namespace fs = std::filesystem;

template <typename T>
void put(std::ofstream& out, T value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof value);
}

// A microsecond Ethernet pcap whose frames are 14 bytes, the first byte the
// frame's tag (to tell the merged frames apart); `cut` leaves the last record
// short, as a capture ended mid-write does.
fs::path write_capture(const fs::path& path, const std::vector<std::pair<double, std::uint8_t>>& frames,
                       bool cut = false) {
  std::ofstream out(path, std::ios::binary);
  put<std::uint32_t>(out, 0xa1b2c3d4);
  put<std::uint16_t>(out, 2);
  put<std::uint16_t>(out, 4);
  put<std::uint32_t>(out, 0);
  put<std::uint32_t>(out, 0);
  put<std::uint32_t>(out, 65535);
  put<std::uint32_t>(out, 1);  // DLT_EN10MB
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto [ts, tag] = frames[i];
    const auto sec = static_cast<std::uint32_t>(ts);
    put<std::uint32_t>(out, sec);
    put<std::uint32_t>(out, static_cast<std::uint32_t>((ts - sec) * 1e6 + 0.5));
    put<std::uint32_t>(out, 14);
    put<std::uint32_t>(out, 14);
    std::string frame(14, '\0');
    frame[0] = static_cast<char>(tag);
    out.write(frame.data(), cut && i + 1 == frames.size() ? 5 : 14);
  }
  return path;
}

// The tags of every frame, in the merge's order.
std::vector<int> merged_tags(CaptureMerge& merge) {
  std::vector<int> tags;
  PcapFrame frame;
  while (merge.next(frame)) tags.push_back(frame.data[0]);
  return tags;
}

// The names resolve_capture_inputs gives for `arguments`.
std::vector<std::string> resolved(const std::vector<std::string>& arguments) {
  std::vector<std::string> paths;
  for (const CaptureInput& input : resolve_capture_inputs(arguments)) paths.push_back(input.path);
  return paths;
}

std::string error_of(const std::vector<std::string>& arguments) {
  try {
    resolve_capture_inputs(arguments);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CaptureInputs, DirectoriesGiveTheirCapturesSortedAndPatternsTheirMatches) {
  TempDir dir("capture_inputs");
  fs::create_directories(dir.path / "day2");
  for (const char* name : {"b.pcap", "a.PCAPNG", "notes.txt", "day2/c.cap"}) std::ofstream(dir.path / name) << "x";
  const std::string d = dir.path.string();
  EXPECT_EQ(resolved({d}),
            (std::vector<std::string>{d + "/a.PCAPNG", d + "/b.pcap", d + "/day2/c.cap"}));
  EXPECT_EQ(resolved({d + "/*.pcap", "-"}), (std::vector<std::string>{d + "/b.pcap", "-"}));
  EXPECT_EQ(resolved({d + "/notes.txt"}), std::vector<std::string>{d + "/notes.txt"});
}

TEST(CaptureInputs, ErrorsNameTheArgument) {
  TempDir dir("capture_inputs");
  std::ofstream(dir.path / "a.pcap") << "x";
  fs::create_directories(dir.path / "empty");
  const std::string d = dir.path.string();
  EXPECT_NE(error_of({d + "/a.pcap", d + "/none.pcap"}).find(d + "/none.pcap: no such file"), std::string::npos);
  EXPECT_NE(error_of({d + "/empty"}).find(d + "/empty: no capture files"), std::string::npos);
  EXPECT_NE(error_of({d + "/*.pcapng"}).find("*.pcapng: no file matches"), std::string::npos);
  EXPECT_NE(error_of({d + "/a.pcap", d + "/./a.pcap"}).find("/./a.pcap: given twice (the same file as " + d +
                                                          "/a.pcap: its packets would be read twice)"),
            std::string::npos);
  EXPECT_NE(error_of({"-", "-"}).find("-: given twice"), std::string::npos);
}

// What resolve_capture_inputs returns for `arguments`, and the warnings it gave (sorted).
std::pair<std::vector<std::string>, std::vector<std::string>> resolved_and_warned(
    const std::vector<std::string>& arguments) {
  std::vector<std::string> warned;
  std::vector<std::string> files;
  const auto inputs = resolve_capture_inputs(arguments, [&](const std::string& why) { warned.push_back(why); });
  for (const CaptureInput& input : inputs) files.push_back(input.path);
  std::sort(warned.begin(), warned.end());
  return {files, warned};
}

// Red team R16-6: the walk followed links to directories anywhere (a user who
// may write into a data set converted by root linked a directory it cannot
// read), and a link loop ended the run. Now neither is followed, each said;
// a directory named on the command line, link or not, is read.
TEST(CaptureInputs, ADirectorysWalkFollowsNoLinkToADirectoryAndSurvivesALoop) {
  TempDir dir("capture_inputs");
  fs::create_directories(dir.path / "ds" / "sub");
  fs::create_directories(dir.path / "private");
  for (const char* name : {"ds/a.pcap", "ds/sub/b.pcap", "private/secret.pcap"}) std::ofstream(dir.path / name) << "x";
  fs::create_directory_symlink(dir.path / "private", dir.path / "ds" / "elsewhere");
  fs::create_directory_symlink("..", dir.path / "ds" / "sub" / "loop");
  const std::string ds = (dir.path / "ds").string();
  const auto [files, warned] = resolved_and_warned({ds});
  EXPECT_EQ(files, (std::vector<std::string>{ds + "/a.pcap", ds + "/sub/b.pcap"}));
  const std::string not_followed = ": a symbolic link to a directory, not followed";
  EXPECT_EQ(warned, (std::vector<std::string>{"--read-pcap " + ds + ": " + ds + "/elsewhere" + not_followed +
                                                  " (name it on the command line to read it)",
                                              "--read-pcap " + ds + ": " + ds + "/sub/loop" + not_followed +
                                                  " (name it on the command line to read it)"}));
  EXPECT_EQ(resolved_and_warned({ds + "/elsewhere"}).first, std::vector<std::string>{ds + "/elsewhere/secret.pcap"});
}

// A link to a file in the walk is followed when it is root's, this user's or
// the file's owner's; another user's link to a file not theirs is skipped,
// said. Named on the command line, any link is followed.
TEST(CaptureInputs, ADirectorysWalkFollowsOnlyLinksOfRootThisUserOrTheFilesOwner) {
  TempDir dir("capture_inputs");
  fs::create_directories(dir.path / "ds");
  fs::create_directories(dir.path / "private");
  for (const char* name : {"private/secret.pcap", "private/theirs.pcap"}) std::ofstream(dir.path / name) << "x";
  fs::create_symlink(dir.path / "private" / "secret.pcap", dir.path / "ds" / "mine.pcap");
  fs::create_symlink(dir.path / "private" / "gone.pcap", dir.path / "ds" / "dangling.pcap");
  fs::create_symlink(dir.path / "private" / "gone.txt", dir.path / "ds" / "dangling.txt");  // not a capture's name
  const std::string ds = (dir.path / "ds").string();
  auto [files, warned] = resolved_and_warned({ds});
  EXPECT_EQ(files, std::vector<std::string>{ds + "/mine.pcap"});
  EXPECT_EQ(warned, std::vector<std::string>{"--read-pcap " + ds + ": " + ds +
                                             "/dangling.pcap: a symbolic link that leads nowhere (No such file or "
                                             "directory (errno 2)), skipped"});
  if (geteuid() != 0) GTEST_SKIP() << "another user's link needs root to make";
  fs::create_symlink(dir.path / "private" / "secret.pcap", dir.path / "ds" / "foreign.pcap");
  ASSERT_EQ(lchown((dir.path / "ds" / "foreign.pcap").c_str(), 65534, 65534), 0);
  fs::create_symlink(dir.path / "private" / "theirs.pcap", dir.path / "ds" / "owners.pcap");
  ASSERT_EQ(lchown((dir.path / "ds" / "owners.pcap").c_str(), 65534, 65534), 0);
  ASSERT_EQ(chown((dir.path / "private" / "theirs.pcap").c_str(), 65534, 65534), 0);
  std::tie(files, warned) = resolved_and_warned({ds});
  EXPECT_EQ(files, (std::vector<std::string>{ds + "/mine.pcap", ds + "/owners.pcap"}));
  ASSERT_EQ(warned.size(), 2u);
  EXPECT_EQ(warned[1], "--read-pcap " + ds + ": " + ds +
                           "/foreign.pcap: a symbolic link of uid 65534 to a file of uid 0, not followed (only links "
                           "of root, of this user or of the file's owner are)");
  EXPECT_EQ(resolved_and_warned({ds + "/foreign.pcap"}).first, std::vector<std::string>{ds + "/foreign.pcap"});
}

// Red team R16-8: a file was told by its path, so a capture under two hard
// linked names was read twice without a word, and a link in a directory to a
// capture in it ended the run ("given twice"). Now a file is its device and
// inode: a second name met in a walk or a pattern is skipped, said; named
// twice, hard link or not, the run is refused.
TEST(CaptureInputs, ASecondNameOfAFileIsSkippedInAWalkAndRefusedWhenNamed) {
  TempDir dir("capture_inputs");
  fs::create_directories(dir.path / "ds");
  std::ofstream(dir.path / "ds" / "a.pcap") << "x";
  fs::create_hard_link(dir.path / "ds" / "a.pcap", dir.path / "ds" / "hard.pcap");
  fs::create_symlink("a.pcap", dir.path / "ds" / "sym.pcap");
  const std::string ds = (dir.path / "ds").string();
  const auto [files, warned] = resolved_and_warned({ds, ds + "/*.pcap"});
  EXPECT_EQ(files, std::vector<std::string>{ds + "/a.pcap"});
  std::vector<std::string> expected;
  for (const std::string& arg : {ds, ds + "/*.pcap"}) {
    for (const char* name : {"/a.pcap", "/hard.pcap", "/sym.pcap"}) {
      if (arg == ds && std::string(name) == "/a.pcap") continue;  // the first name: read
      expected.push_back("--read-pcap " + arg + ": " + ds + name +
                         (std::string(name) == "/a.pcap" ? ": given twice" : ": the same file as " + ds + "/a.pcap") +
                         ", skipped (its packets are read once)");
    }
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(warned, expected);
  EXPECT_NE(error_of({ds + "/a.pcap", ds + "/hard.pcap"}).find("hard.pcap: given twice (the same file as"),
            std::string::npos);
  EXPECT_NE(error_of({ds + "/sym.pcap", ds + "/a.pcap"}).find("a.pcap: given twice"), std::string::npos);
  // Named, then met again in a walk: read once, said.
  EXPECT_EQ(resolved_and_warned({ds + "/hard.pcap", ds}).first, std::vector<std::string>{ds + "/hard.pcap"});
}

// Red team R18-8: a pattern's match was read whatever it was, so a FIFO
// named like a capture held the run in its open for good. Now a match that
// is neither a directory nor a regular file is skipped, said; a pattern left
// with nothing is an error.
TEST(CaptureInputs, APatternsMatchThatIsNotARegularFileIsSkipped) {
  TempDir dir("capture_inputs");
  std::ofstream(dir.path / "a.pcap") << "x";
  ASSERT_EQ(mkfifo((dir.path / "b.pcap").c_str(), 0600), 0);
  const std::string d = dir.path.string();
  const auto [files, warned] = resolved_and_warned({d + "/*.pcap"});
  EXPECT_EQ(files, std::vector<std::string>{d + "/a.pcap"});
  EXPECT_EQ(warned, std::vector<std::string>{"--read-pcap " + d + "/*.pcap: " + d +
                                             "/b.pcap: not a regular file, skipped"});
  EXPECT_NE(error_of({d + "/b*.pcap"}).find("b*.pcap: no regular file matches the pattern"), std::string::npos);
}

// Every pipe is its own input: two process substitutions (/dev/fd/N, whose
// canonical path could not be found: both were "" and refused as the same).
TEST(CaptureInputs, TwoPipesAreTwoInputs) {
  int first[2], second[2];
  ASSERT_EQ(pipe(first), 0);
  ASSERT_EQ(pipe(second), 0);
  const std::string a = "/dev/fd/" + std::to_string(first[0]), b = "/dev/fd/" + std::to_string(second[0]);
  EXPECT_EQ(resolved({a, b}), (std::vector<std::string>{a, b}));
  EXPECT_NE(error_of({a, b, a}).find(a + ": given twice"), std::string::npos);
  for (int fd : {first[0], first[1], second[0], second[1]}) close(fd);
}

TEST(CaptureMerge, OverlappingFilesInterleaveByTimeAndTiesKeepTheGivenOrder) {
  TempDir dir("capture_merge");
  const auto first = write_capture(dir.path / "1.pcap", {{10.0, 1}, {12.0, 3}, {13.0, 5}});
  const auto second = write_capture(dir.path / "2.pcap", {{11.0, 2}, {12.0, 4}, {20.0, 6}});
  CaptureMerge merge(resolve_capture_inputs({first, second}));
  EXPECT_EQ(merge.files(), 2u);
  EXPECT_EQ(merged_tags(merge), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  CaptureMerge reversed(resolve_capture_inputs({second, first}));
  EXPECT_EQ(merged_tags(reversed), (std::vector<int>{1, 2, 4, 3, 5, 6}));  // at 12.0: the file given first
  EXPECT_TRUE(reversed.errors().empty());
}

TEST(CaptureMerge, AFileCutShortKeepsWhatWasReadAndTheOthersGoOn) {
  TempDir dir("capture_merge");
  const auto cut = write_capture(dir.path / "cut.pcap", {{10.0, 1}, {11.0, 2}, {12.0, 9}}, /*cut=*/true);
  const auto whole = write_capture(dir.path / "whole.pcap", {{10.5, 3}, {30.0, 4}});
  CaptureMerge merge(resolve_capture_inputs({cut, whole}));
  EXPECT_EQ(merged_tags(merge), (std::vector<int>{1, 3, 2, 4}));
  ASSERT_EQ(merge.errors().size(), 1u);
  EXPECT_EQ(merge.errors()[0].path, cut.string());
  EXPECT_EQ(merge.errors()[0].packets, 2u);
  EXPECT_FALSE(merge.errors()[0].message.empty());
}

TEST(CaptureMerge, AFileThatIsNotACaptureFailsBeforeAnythingIsRead) {
  TempDir dir("capture_merge");
  const auto good = write_capture(dir.path / "good.pcap", {{10.0, 1}});
  std::ofstream(dir.path / "text.pcap") << "this is not a capture file";
  try {
    CaptureMerge merge(resolve_capture_inputs({good, dir.path / "text.pcap"}));
    FAIL() << "a text file was opened as a capture";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text.pcap"), std::string::npos) << e.what();
  }
}

// The progress bar's counts: every file's position, and the files read to
// their end (a 14-byte frame is a 30-byte record after the 24-byte header).
TEST(CaptureMerge, CountsTheBytesReadAndTheFilesDone) {
  TempDir dir("capture_merge");
  const auto first = write_capture(dir.path / "1.pcap", {{10.0, 1}, {11.0, 2}});
  const auto second = write_capture(dir.path / "2.pcap", {{20.0, 3}});
  CaptureMerge merge(resolve_capture_inputs({first, second}));
  PcapFrame frame;
  std::vector<std::pair<std::uint64_t, std::size_t>> seen;  // (bytes, files done) after each frame
  while (merge.next(frame)) seen.emplace_back(merge.bytes_read(), merge.files_done());
  // A file counts once the merge reaches it (its first frame, read at the start
  // to know its time, is read again then); a file is done once its end was met.
  const std::vector<std::pair<std::uint64_t, std::size_t>> expected{{54, 0}, {84, 0}, {84 + 54, 1}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(merge.files_done(), 2u);
  EXPECT_EQ(merge.bytes_read(), fs::file_size(first) + fs::file_size(second));
}

// Files that follow each other are open one at a time, however many there are.
TEST(CaptureMerge, FilesOneAfterAnotherAreOpenOneAtATime) {
  TempDir dir("capture_merge");
  std::vector<std::string> paths;
  std::vector<int> expected;
  for (int f = 0; f < 40; ++f) {
    const double t = 100.0 + f * 10;
    const auto tag = static_cast<std::uint8_t>(2 * f);
    paths.push_back(write_capture(dir.path / ("f" + std::to_string(100 + f) + ".pcap"),
                                  {{t, tag}, {t + 1, static_cast<std::uint8_t>(tag + 1)}}));
    expected.insert(expected.end(), {tag, tag + 1});
  }
  CaptureMerge merge(resolve_capture_inputs(paths), 4);
  EXPECT_EQ(merged_tags(merge), expected);
  EXPECT_EQ(merge.most_open(), 1u);
  EXPECT_EQ(merge.reopened(), 0u);
  EXPECT_EQ(merge.files_done(), 40u);
}

// A capture written by write_capture in the other byte order (read through
// libpcap, not mapped: a reader of it reopened reads again what it had read).
void swap_byte_order(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const auto swap = [&](std::size_t at, std::size_t n) { std::reverse(bytes.begin() + at, bytes.begin() + at + n); };
  swap(0, 4), swap(4, 2), swap(6, 2);
  for (std::size_t at = 8; at < 24; at += 4) swap(at, 4);
  for (std::size_t at = 24; at + 30 <= bytes.size(); at += 30) {
    for (std::size_t field = 0; field < 16; field += 4) swap(at + field, 4);
  }
  std::ofstream(path, std::ios::binary) << bytes;
}

// More files overlap than may be open: the latest are closed and reopened
// where they were, and the stream is the same as with every file open.
TEST(CaptureMerge, MoreOverlappingFilesThanTheLimitGiveTheSameStream) {
  TempDir dir("capture_merge");
  std::vector<std::string> paths;
  for (int f = 0; f < 9; ++f) {  // file f: frames at f, f + 9, f + 18, ... (tags in time order)
    std::vector<std::pair<double, std::uint8_t>> frames;
    for (int k = 0; k < 5; ++k) frames.emplace_back(10.0 + f + 9 * k, static_cast<std::uint8_t>(f + 9 * k));
    paths.push_back(write_capture(dir.path / ("f" + std::to_string(f) + ".pcap"), frames));
    if (f % 2) swap_byte_order(paths.back());  // half of them not mapped
  }
  CaptureMerge all_open(resolve_capture_inputs(paths), 9), bounded(resolve_capture_inputs(paths), 3);
  const std::vector<int> tags = merged_tags(all_open);
  ASSERT_EQ(tags.size(), 45u);
  for (int k = 0; k < 45; ++k) EXPECT_EQ(tags[k], k);
  EXPECT_EQ(merged_tags(bounded), tags);
  EXPECT_EQ(all_open.reopened(), 0u);
  EXPECT_GT(bounded.reopened(), 0u);
  EXPECT_LE(bounded.most_open(), 3u);
  EXPECT_TRUE(bounded.errors().empty());
  EXPECT_EQ(bounded.bytes_read(), all_open.bytes_read());
}

// A file gone between its first read and the merge reaching it: an error
// naming it, and the others go on.
TEST(CaptureMerge, AFileGoneBeforeTheMergeReachesItIsAnErrorAndTheOthersGoOn) {
  TempDir dir("capture_merge");
  const auto first = write_capture(dir.path / "1.pcap", {{10.0, 1}, {11.0, 2}});
  const auto gone = write_capture(dir.path / "2.pcap", {{20.0, 3}});
  const auto third = write_capture(dir.path / "3.pcap", {{30.0, 4}});
  CaptureMerge merge(resolve_capture_inputs({first, gone, third}));
  fs::remove(gone);
  EXPECT_EQ(merged_tags(merge), (std::vector<int>{1, 2, 4}));
  ASSERT_EQ(merge.errors().size(), 1u);
  EXPECT_EQ(merge.errors()[0].path, gone.string());
  EXPECT_EQ(merge.errors()[0].packets, 0u);
  EXPECT_EQ(merge.files_done(), 3u);
}

// A file of a data set put back as a symbolic link to another capture
// (one its writer may not read) once the inputs were listed.
void swap_for_link(const fs::path& file, const fs::path& other) {
  fs::remove(file);
  fs::create_symlink(other, file);
}

std::string message_of(const std::vector<CaptureReadError>& errors) {
  return errors.empty() ? "" : errors[0].message;
}

// The merge opened files by name: a file swapped for a link between the
// listing of the inputs and the first open was read as the link's target.
// Now the file opened must be the one listed (device and inode): nothing of
// another is read, and the run stops naming it, as for a file that cannot
// be opened.
TEST(CaptureMerge, AFileSwappedForALinkBeforeItIsOpenedIsRefused) {
  TempDir dir("capture_merge");
  fs::create_directories(dir.path / "ds");
  const auto listed = write_capture(dir.path / "ds" / "a.pcap", {{10.0, 1}});
  const auto secret = write_capture(dir.path / "secret.pcap", {{10.0, 99}});
  const std::vector<CaptureInput> inputs = resolve_capture_inputs({(dir.path / "ds").string()});
  swap_for_link(listed, secret);
  try {
    CaptureMerge merge(inputs);
    FAIL() << "read a file put in place of the one listed: " << ::testing::PrintToString(merged_tags(merge));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(listed.string() + ": replaced by another file since the inputs were listed"),
              std::string::npos)
        << e.what();
  }
}

// A link to a FIFO swapped in: the open itself waited for a writer that never
// comes (a root run hung for good), before any check could refuse the file.
// The file is now found and checked before it is opened.
TEST(CaptureMerge, AFileSwappedForALinkToAFifoIsRefusedWithoutWaiting) {
  TempDir dir("capture_merge");
  const auto listed = write_capture(dir.path / "a.pcap", {{10.0, 1}});
  const fs::path fifo = dir.path / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::vector<CaptureInput> inputs = resolve_capture_inputs({listed.string()});
  swap_for_link(listed, fifo);
  auto opening = std::async(std::launch::async, [&] {
    try {
      CaptureMerge merge(inputs);
      return std::string("opened");
    } catch (const Error& e) {
      return std::string(e.what());
    }
  });
  if (opening.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    const int writer = open(fifo.c_str(), O_WRONLY);  // lets the hung open go, to end the test
    opening.wait();
    close(writer);
    FAIL() << "the open waited for a writer of the FIFO swapped in";
  }
  const std::string result = opening.get();
  EXPECT_NE(result.find("replaced by another file since the inputs were listed"), std::string::npos) << result;
}

// The same between the merge's first look at a file and its open when the
// merge reaches it: a read error naming it, nothing of the other file read,
// the rest of the files read.
TEST(CaptureMerge, AFileSwappedForALinkBeforeTheMergeReachesItIsAReadError) {
  TempDir dir("capture_merge");
  const auto secret = write_capture(dir.path / "secret.pcap", {{11.0, 97}, {13.0, 99}, {15.0, 98}});
  const auto early = write_capture(dir.path / "1.pcap", {{10.0, 1}, {30.0, 9}});
  const auto later = write_capture(dir.path / "2.pcap", {{20.0, 2}});
  CaptureMerge reached(resolve_capture_inputs({early, later}));
  swap_for_link(later, secret);
  EXPECT_EQ(merged_tags(reached), (std::vector<int>{1, 9}));
  ASSERT_EQ(reached.errors().size(), 1u);
  EXPECT_EQ(reached.errors()[0].path, later.string());
  EXPECT_NE(message_of(reached.errors()).find("replaced by another file"), std::string::npos);
}

// And between a close (more files overlap than may be open) and the reopen.
TEST(CaptureMerge, AFileSwappedForALinkWhileClosedForAnotherIsAReadError) {
  TempDir dir("capture_merge");
  const auto secret = write_capture(dir.path / "secret.pcap", {{11.0, 97}, {13.0, 99}, {15.0, 98}});
  // One file open at a time: a and b take turns, each closed and reopened
  // at its pending frame. b is swapped once it has given a frame.
  const auto a = write_capture(dir.path / "a.pcap", {{10.0, 1}, {12.0, 3}, {14.0, 5}});
  const auto b = write_capture(dir.path / "b.pcap", {{11.0, 2}, {13.0, 4}, {15.0, 6}});
  CaptureMerge taking_turns(resolve_capture_inputs({a, b}), 1);
  PcapFrame frame;
  std::vector<int> tags;
  while (tags.size() < 3 && taking_turns.next(frame)) tags.push_back(frame.data[0]);
  ASSERT_EQ(tags, (std::vector<int>{1, 2, 3}));
  ASSERT_GT(taking_turns.reopened(), 0u);
  swap_for_link(b, secret);
  for (const int tag : merged_tags(taking_turns)) tags.push_back(tag);
  EXPECT_EQ(tags, (std::vector<int>{1, 2, 3, 5}));
  ASSERT_EQ(taking_turns.errors().size(), 1u);
  EXPECT_EQ(taking_turns.errors()[0].path, b.string());
  EXPECT_EQ(taking_turns.errors()[0].packets, 1u);
  EXPECT_NE(message_of(taking_turns.errors()).find("replaced by another file"), std::string::npos);
}

// A pipe has no position: the records read are counted instead.
TEST(PcapReader, CountsTheBytesOfAPipeByItsRecords) {
  TempDir dir("capture_merge");
  const auto path = write_capture(dir.path / "piped.pcap", {{10.0, 1}, {11.0, 2}, {12.0, 3}});
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  close(fds[1]);
  PcapReader reader(fdopen(fds[0], "rb"), "pipe");
  PcapFrame frame;
  ASSERT_TRUE(reader.next(frame));
  EXPECT_EQ(reader.bytes_read(), 24u + 30u);
  while (reader.next(frame)) {
  }
  EXPECT_EQ(reader.bytes_read(), bytes.size());
}

}  // namespace
}  // namespace sniffer
