// bench/domain_bench: the domain library's hot paths against bare baselines.
//
//   1. Resident-ID normalization + validation per second on one core (goal
//      >= 5 M/s), next to a bare MOD 11-2 check-character loop over the same IDs.
//   2. GB18030 -> UTF-8 decoding of a roster-like CSV line by line through
//      TextDecoder (rule 7: per-line UTF-8 test, GB18030 fallback, stray-row
//      counting), next to one bare iconv() loop over the same bytes
//      (goal >= 0.9 of it).
//
// Usage: domain_bench [--quick]   (--quick: a tiny workload, for the test suite)
#include <iconv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "domain/encoding.h"
#include "domain/resident_id.h"

namespace {

using Clock = std::chrono::steady_clock;
using hutong::domain::CivilDate;

// Median seconds of `repetitions` runs of fn.
double median_seconds(int repetitions, const std::function<void()>& fn) {
  std::vector<double> times;
  for (int i = 0; i < repetitions; ++i) {
    auto start = Clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

volatile uint64_t g_sink;  // keeps the measured work observable

std::vector<std::string> make_ids(size_t count) {
  std::mt19937_64 rng(42);
  static const char* kAreas[] = {"610523", "110105", "440524", "310115", "652101"};
  std::vector<std::string> ids;
  ids.reserve(count);
  while (ids.size() < count) {
    int year = 1930 + static_cast<int>(rng() % 95), month = 1 + static_cast<int>(rng() % 12),
        day = 1 + static_cast<int>(rng() % 28);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%04d%02d%02d%03d", kAreas[rng() % 5], year, month, day,
                  static_cast<int>(rng() % 1000));
    std::string id(buf, 17);
    id += hutong::domain::resident_id_check_char(id);
    ids.push_back(std::move(id));
  }
  return ids;
}

void bench_ids(bool quick) {
  const size_t count = quick ? 20000 : 2000000;
  const int repetitions = quick ? 1 : 5;
  std::vector<std::string> ids = make_ids(count);
  const CivilDate reference{2025, 11, 15};

  double baseline = median_seconds(repetitions, [&] {
    uint64_t sum = 0;
    for (const std::string& id : ids)
      sum += hutong::domain::resident_id_check_char(id) == id[17];
    g_sink = sum;
  });
  double full = median_seconds(repetitions, [&] {
    uint64_t valid = 0;
    for (const std::string& id : ids) {
      valid += hutong::domain::normalize_resident_id(id, reference).is_ok();
    }
    g_sink = valid;
  });
  // A dirtier delivery: one ID in ten needs a repair (spaces, lower-case x,
  // full-width digits) and one in twenty is rejected (and gets its message).
  std::vector<std::string> mixed = ids;
  for (size_t i = 0; i < mixed.size(); ++i) {
    switch (i % 20) {
      case 0:
        mixed[i] = " " + mixed[i] + "\xC2\xA0";
        break;
      case 1:
        mixed[i][17] = mixed[i][17] == 'X' ? 'x' : mixed[i][17];
        break;
      case 2:
        mixed[i] = "\xEF\xBC\x96" + mixed[i].substr(1);
        break;  // full-width 6
      case 3:
        mixed[i][17] = mixed[i][17] == '0' ? '1' : '0';
        break;  // wrong check character
    }
  }
  double dirty = median_seconds(repetitions, [&] {
    uint64_t valid = 0;
    for (const std::string& id : mixed) {
      valid += hutong::domain::normalize_resident_id(id, reference).is_ok();
    }
    g_sink = valid;
  });
  double base_rate = count / baseline, full_rate = count / full, dirty_rate = count / dirty;
  std::printf("resident ID, %zu valid 18-character IDs, one core\n", count);
  std::printf("  baseline  bare MOD 11-2 check loop      %10.2f M IDs/s\n", base_rate / 1e6);
  std::printf("  hutong    normalize_resident_id         %10.2f M IDs/s   (goal >= 5 M/s)\n",
              full_rate / 1e6);
  std::printf(
      "  hutong    same mix with 15%% dirty IDs    %10.2f M IDs/s   (10%% repaired, 5%% "
      "rejected)\n",
      dirty_rate / 1e6);
  std::printf("  ratio     normalize / bare check        %10.3f\n", full_rate / base_rate);
}

// A roster-like CSV in GB18030: the kind of file the education bureau exports.
std::string make_gb18030_csv(size_t target_bytes) {
  static const char* kNames[] = {"邓铭",     "陆一诺", "阎可欣", "阿依古丽·买买提",
                                 "欧阳娜娜", "程鹏飞"};
  static const char* kSchools[] = {"大荔县城关街道中心幼儿园", "大荔县城关街道石槽小学",
                                   "大荔县朝邑镇初级中学"};
  std::string utf8 =
      "全国学籍号,姓名,性别,身份证件类型,身份证件号,出生日期,学校名称,学段,年级,班级,学籍状态\r\n";
  std::mt19937 rng(7);
  while (utf8.size() < target_bytes * 2 / 3) {
    char row[512];
    std::snprintf(row, sizeof row,
                  "G61052320150815%04u,%s,%s,居民身份证,61052320150815%04u,2015-08-15,%s,小学,"
                  "五年级,五年级(3)班,在读\r\n",
                  static_cast<unsigned>(rng() % 10000), kNames[rng() % 6], rng() % 2 ? "男" : "女",
                  static_cast<unsigned>(rng() % 10000), kSchools[rng() % 3]);
    utf8 += row;
  }
  return *hutong::domain::utf8_to_gb18030(utf8);
}

void bench_gb18030(bool quick) {
  const size_t target = quick ? (256u << 10) : (64u << 20);
  const int repetitions = quick ? 1 : 5;
  std::string file = make_gb18030_csv(target);
  std::vector<char> out(file.size() * 2 + 64);

  double baseline = median_seconds(repetitions, [&] {
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    char* in = file.data();
    size_t in_left = file.size();
    char* dst = out.data();
    size_t out_left = out.size();
    iconv(cd, &in, &in_left, &dst, &out_left);
    iconv_close(cd);
    g_sink = out.size() - out_left;
  });

  double decoder = median_seconds(repetitions, [&] {
    hutong::domain::TextDecoder text(file);
    std::string line;
    uint64_t produced = 0;
    size_t pos = 0;
    uint64_t row = 0;
    while (pos < file.size()) {
      const char* nl =
          static_cast<const char*>(std::memchr(file.data() + pos, '\n', file.size() - pos));
      size_t end = nl ? static_cast<size_t>(nl - file.data()) : file.size();
      std::string_view bytes(file.data() + pos, end - pos);
      if (!bytes.empty() && bytes.back() == '\r') bytes.remove_suffix(1);
      if (text.decode_into(bytes, ++row, pos, line)) produced += line.size();
      pos = end + 1;
    }
    g_sink = produced;
  });

  double mb = file.size() / 1e6;
  std::printf("GB18030 -> UTF-8, %.1f MB roster-like CSV\n", mb);
  std::printf("  baseline  one bare iconv() over the file %9.1f MB/s\n", mb / baseline);
  std::printf("  hutong    TextDecoder, line by line      %9.1f MB/s\n", mb / decoder);
  std::printf("  ratio     decoder / bare iconv           %9.3f   (goal >= 0.9)\n",
              baseline / decoder);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  bench_ids(quick);
  bench_gb18030(quick);
  return 0;
}
