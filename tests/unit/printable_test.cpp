// printable(): one message is one line whatever the names in it hold.
#include <gtest/gtest.h>

#include <string>

#include "util/printable.hpp"

namespace shmjob {
namespace {

TEST(Printable, EscapesControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(printable("a\nb\rc\x1b[31md\x07"), "a\\x0Ab\\x0Dc\\x1B[31md\\x07");
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(printable("del\x7f"), "del\\x7F");
  EXPECT_EQ(printable("\xc2\x85next-line"), "\\xC2\\x85next-line");  // U+0085, a C1 control
  EXPECT_EQ(printable("bad\xff\xfe"), "bad\\xFF\\xFE");
  EXPECT_EQ(printable("\xe2\x82"), "\\xE2\\x82");           // truncated sequence
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xED\\xA0\\x80");  // a surrogate
  EXPECT_EQ(printable("\xc0\xaf"), "\\xC0\\xAF");           // overlong
}

TEST(Printable, KeepsPrintableTextAndIsIdempotent) {
  const std::string names =
      "donn\xc3\xa9"
      "es/\xe6\x97\xa5\xe6\x9c\xac.h5 [a-z]*";
  EXPECT_EQ(printable(names), names);
  const std::string once = printable("evil\nname\x1b");
  EXPECT_EQ(printable(once), once);
  EXPECT_EQ(once.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace shmjob
