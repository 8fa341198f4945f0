#include "weightfs/core/byte_size.h"

#include <cctype>
#include <limits>
#include <string>

namespace weightfs {

Result<uint64_t> ParseByteSize(std::string_view text) {
  const auto bad = [&] {
    return InvalidArgument("invalid size \"" + std::string(text) +
                           "\": give a number with an optional unit K, M, G or T (powers of "
                           "1024), e.g. 512M or 4G");
  };
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const auto digit = static_cast<uint64_t>(text[i] - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - digit) / 10) return bad();
    n = n * 10 + digit;
    ++i;
  }
  if (i == 0) return bad();
  std::string unit;
  for (; i < text.size(); ++i) {
    unit += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
  }
  int shift = 0;
  if (!unit.empty() && unit != "B") {
    constexpr std::string_view kUnits = "KMGT";
    const size_t u = kUnits.find(unit[0]);
    const std::string rest = unit.substr(1);
    if (u == std::string_view::npos ||
        !(rest.empty() || rest == "B" || rest == "I" || rest == "IB"))
      return bad();
    shift = 10 * static_cast<int>(u + 1);
  }
  if (shift > 0 && n > (std::numeric_limits<uint64_t>::max() >> shift)) return bad();
  return n << shift;
}

}  // namespace weightfs
