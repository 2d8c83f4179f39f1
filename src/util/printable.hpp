#pragma once
// Names in messages: a file, dataset or directory name can hold any byte, and printed raw a
// newline, CR or ESC in it would forge lines (or colours) on the user's terminal. Every name
// that goes into a message passes through printable().
#include <string>
#include <string_view>

namespace shmjob {

// `text` with control characters (C0, DEL, C1) and bytes that are not valid UTF-8 written as
// \xHH; printable UTF-8 (accents, CJK) is kept. One line stays one line, and text that is
// already printable comes back unchanged (so escaping twice does no harm).
std::string printable(std::string_view text);

}  // namespace shmjob
