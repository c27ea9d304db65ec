// The county charity fund's SQLite ledger (fund/fund.sqlite in WAL mode, with
// its newest transactions only in fund.sqlite-wal), written through a VFS
// whose randomness and clock are fixed so that the files are reproducible.
#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "output.h"

namespace county {
namespace {

const char* kSchema = R"(CREATE TABLE donation (
  id              INTEGER PRIMARY KEY,
  donor_name      TEXT NOT NULL,
  donor_type      TEXT NOT NULL,
  donor_credit_code TEXT,
  anonymous       INTEGER NOT NULL DEFAULT 0,
  amount_fen      INTEGER NOT NULL,
  received_on     TEXT NOT NULL,
  restriction     TEXT,
  receipt_no      TEXT,
  updated_at      TEXT NOT NULL
);
CREATE TABLE grant_award (
  id            INTEGER PRIMARY KEY,
  student_id_no TEXT NOT NULL,
  student_name  TEXT NOT NULL,
  amount_fen    INTEGER NOT NULL,
  purpose       TEXT NOT NULL,
  approved_on   TEXT NOT NULL,
  paid_on       TEXT,
  donation_id   INTEGER REFERENCES donation(id),
  status        TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
)";

// A VFS that forwards to the default one but gives fixed "random" bytes and a
// fixed clock: SQLite salts its WAL header with random numbers.
sqlite3_vfs g_vfs;
sqlite3_vfs* g_base = nullptr;
uint64_t g_random_state = 0;

int fixed_randomness(sqlite3_vfs*, int n, char* out) {
  for (int i = 0; i < n; ++i)
    out[i] = static_cast<char>(mix64(++g_random_state) & 0xFF);
  return n;
}
int fixed_time(sqlite3_vfs*, double* now) {
  *now = 2460994.5;  // a fixed Julian day
  return SQLITE_OK;
}
int fixed_time64(sqlite3_vfs*, sqlite3_int64* now) {
  *now = static_cast<sqlite3_int64>(2460994.5 * 86400000.0);
  return SQLITE_OK;
}

void register_vfs(uint64_t seed) {
  g_random_state = seed;
  if (g_base) {
    sqlite3_randomness(0, nullptr);  // reseed from the fixed source
    return;
  }
  g_base = sqlite3_vfs_find(nullptr);
  g_vfs = *g_base;
  g_vfs.zName = "hutong_county_fixed";
  g_vfs.xRandomness = fixed_randomness;
  g_vfs.xCurrentTime = fixed_time;
  if (g_vfs.iVersion >= 2) g_vfs.xCurrentTimeInt64 = fixed_time64;
  sqlite3_vfs_register(&g_vfs, 1);  // the default: SQLite seeds its PRNG from it
  sqlite3_randomness(0, nullptr);   // reseed now, from the fixed source
}

class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        "hutong_county_fixed") != SQLITE_OK)
      throw std::runtime_error("cannot create " + path);
  }
  ~Db() {
    if (db_) sqlite3_close(db_);
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("sqlite: " + msg + " in " + sql.substr(0, 200));
    }
  }
  sqlite3* get() { return db_; }
  void close() {
    if (sqlite3_close(db_) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite close: ") + sqlite3_errmsg(db_));
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  }
  ~Stmt() { finalize(); }
  // Before the connection closes (a statement alive then keeps it from closing).
  void finalize() {
    sqlite3_finalize(s_);
    s_ = nullptr;
  }
  Stmt& text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  void run() {
    if (sqlite3_step(s_) != SQLITE_DONE) throw std::runtime_error("sqlite step failed");
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// The check character of an 18-character unified social credit code (GB 32100).
std::string credit_code(Rng& rng, const std::string& division) {
  static const char kChars[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static const int kWeights[] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  std::string code = "91" + division;
  while (code.size() < 17)
    code += kChars[rng.range(0, 30)];
  int sum = 0;
  for (int i = 0; i < 17; ++i)
    sum += static_cast<int>(std::strchr(kChars, code[i]) - kChars) * kWeights[i];
  code += kChars[(31 - sum % 31) % 31];
  return code;
}

std::string stamp_on(CivilDate d, Rng& rng) {
  return cst_stamp(d, rng).text;
}

}  // namespace

void write_fund(const County& c, const DefectPicker& picker, Truth& truth,
                std::map<std::string, uint64_t>& topics) {
  const Options& o = c.options();
  std::string dir = o.out + "/fund";
  std::filesystem::create_directories(dir);
  std::string path = dir + "/fund.sqlite";
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path + suffix);
  register_vfs(o.seed);
  const std::string source_d = "fund/fund.sqlite:donation";
  const std::string source_g = "fund/fund.sqlite:grant_award";
  std::map<std::string, std::string> donations, grants;
  Db db(path);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;");
  db.exec(kSchema);
  sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  // Donations.
  size_t n_don = std::max<size_t>(20, c.households.size() / 40);
  std::vector<int64_t> study_donations;
  static const char* kTypes[] = {"个人", "企业", "机关事业单位", "社会组织"};
  static const char* kRestrictions[] = {"助学", "助残", "产业"};
  CivilDate ref = o.reference;
  auto day_before = [&](Rng& rng, int max_days) {
    return CivilDate::from_days_since_epoch(ref.days_since_epoch() - rng.range(1, max_days));
  };
  Stmt don_ins(db.get(),
               "INSERT INTO donation (id, donor_name, donor_type, donor_credit_code, anonymous, "
               "amount_fen, "
               "received_on, restriction, receipt_no, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
  // Donation `i`; the newest one is committed only in the WAL.
  auto donation = [&](size_t i, bool wal) {
    Stmt& ins = don_ins;
    Rng rng(o.seed, kTagFund, i);
    int type = rng.chance(0.5) ? 0 : rng.range(1, 3);
    std::string name;
    if (type == 0) {
      const Person& p = c.people[rng.next() % c.people.size()];
      name = c.name_in(p, kSysFund);
    } else if (type == 1) {
      name = c.villages[rng.next() % c.villages.size()].name.substr(0, 6) + "农业发展有限公司";
    } else if (type == 2) {
      static const char* kUnits[] = {"教育局", "财政局", "人民医院", "供电分公司"};
      name = c.county_name + kUnits[rng.range(0, 3)];
    } else {
      name = c.county_name + "慈善协会";
    }
    std::string credit = type == 0 ? "" : credit_code(rng, o.division);
    bool anonymous = type == 0 && rng.chance(0.1);
    int64_t amount = static_cast<int64_t>(rng.range(1, 2000)) * 10000;
    CivilDate received = day_before(rng, 600);
    int restriction = rng.chance(0.5) ? 0 : rng.chance(0.5) ? -1 : rng.range(1, 2);
    char receipt[32];
    std::snprintf(receipt, sizeof receipt, "JJ%d%05zu", received.year, i);
    std::string updated = stamp_on(received, rng);
    ins.integer(1, static_cast<int64_t>(i)).text(2, name).text(3, kTypes[type]);
    if (credit.empty())
      ins.null(4);
    else
      ins.text(4, credit);
    ins.integer(5, anonymous).integer(6, amount).text(7, received.to_string());
    if (restriction < 0)
      ins.null(8);
    else
      ins.text(8, kRestrictions[restriction]);
    ins.text(9, receipt).text(10, updated).run();
    if (restriction == 0) study_donations.push_back(static_cast<int64_t>(i));
    Json j;
    j.num("donation_id", static_cast<int64_t>(i))
        .str("donor_name", name)
        .str("donor_type", kTypes[type]);
    j.str("donor_credit_code", credit).boolean("anonymous", anonymous).num("amount_fen", amount);
    j.str("received_on", received.to_string())
        .str("restriction", restriction < 0 ? "" : kRestrictions[restriction]);
    j.str("receipt_no", receipt)
        .str("updated_at", cst_to_utc_rfc3339(updated))
        .boolean("wal_only", wal);
    donations[std::to_string(i)] = j.done();
  };
  db.exec("BEGIN");
  for (size_t i = 1; i < n_don; ++i)
    donation(i, false);
  db.exec("COMMIT");
  // Grants to some students of eligible households.
  CivilDate term_start{ref.month >= 9 ? ref.year : ref.year - 1, 9, 1};
  std::vector<uint32_t> recipients;
  for (uint32_t pi = 0; pi < c.people.size(); ++pi) {
    const Person& p = c.people[pi];
    const Household& h = c.households[p.household];
    if (!c.schooling(p, term_start).stage) continue;
    if (!(c.is_poor_at(h, static_cast<int>(c.months.size()) - 1) || h.dibao)) continue;
    if (mix64(pi ^ o.seed ^ 0xF00D) % 20 == 0) recipients.push_back(pi);
  }
  size_t main_part = recipients.size() - recipients.size() / 10;
  static const char* kPurposes[] = {"助学金", "生活补助", "救急"};
  Stmt ins(
      db.get(),
      "INSERT INTO grant_award (id, student_id_no, student_name, amount_fen, purpose, approved_on, "
      "paid_on, donation_id, status, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
  struct GrantRow {
    bool ok;
    std::string id_text, name_text;
    int64_t amount_fen;
    std::string amount_text;  // non-empty: stored as text (value.amount)
  };
  struct LatePayment {
    int64_t id;
    std::string paid_on, updated_at;
  };
  std::vector<LatePayment> late;
  auto grant = [&](size_t gi, bool wal) {
    uint32_t pi = recipients[gi];
    const Person& p = c.people[pi];
    int64_t id = static_cast<int64_t>(gi + 1);
    Rng rng(o.seed, kTagFund ^ 0x10, gi);
    static const int64_t kAmounts[] = {50000, 100000, 125000, 200000};
    int64_t amount = kAmounts[rng.range(0, 3)];
    int purpose = rng.chance(0.7) ? 0 : rng.range(1, 2);
    CivilDate approved = day_before(rng, 300);
    static const char* kStatus[] = {"待审批", "已批准", "已发放", "撤销"};
    int status = rng.chance(0.6) ? 2 : rng.chance(0.6) ? 1 : rng.chance(0.6) ? 0 : 3;
    CivilDate paid =
        status == 2
            ? CivilDate::from_days_since_epoch(approved.days_since_epoch() + rng.range(0, 20))
            : CivilDate{};
    if (paid > ref) paid = ref;
    int64_t donation = study_donations.empty() || rng.chance(0.3)
                           ? 0
                           : study_donations[rng.next() % study_donations.size()];
    std::string updated = stamp_on(paid.empty() ? approved : paid, rng);
    // Defects.
    std::vector<Defect> kinds;
    std::string clean_id(p.id_view());
    for (Defect d : {Defect::kIdChecksum, Defect::kIdLowerX, Defect::kIdFullWidth,
                     Defect::kIdSpaces, Defect::kIdScientific})
      if (id_defect_applies(d, clean_id)) kinds.push_back(d);
    kinds.push_back(Defect::kNameSpaces);
    kinds.push_back(Defect::kDateSlash);
    if (amount >= 100000) kinds.push_back(Defect::kAmountThousands);
    Defect d = picker.pick(rng, kinds);
    std::string id_text = clean_id, name = c.name_in(p, kSysFund), name_text = name;
    std::string approved_text = approved.to_string();
    std::string reason;
    bool repaired = false;
    std::string amount_text;
    switch (d) {
      case Defect::kNone:
        break;
      case Defect::kNameSpaces:
        name_text = pad_blanks(name, rng);
        repaired = true;
        break;
      case Defect::kDateSlash:
        approved_text = std::to_string(approved.year) + "/" + std::to_string(approved.month) + "/" +
                        std::to_string(approved.day);
        repaired = true;
        break;
      case Defect::kAmountThousands: {
        std::string y = std::to_string(amount / 100);
        std::string with;
        for (size_t i = 0; i < y.size(); ++i) {
          if (i && (y.size() - i) % 3 == 0) with += ',';
          with += y[i];
        }
        amount_text = with + ".00";
        reason = "value.amount";
        break;
      }
      default:
        id_text = apply_id_defect(d, clean_id, rng);
        reason = std::string(id_defect_reason(d));
        repaired = reason.empty();
        break;
    }
    if (d != Defect::kNone) truth.count_defect(d);
    ins.integer(1, id).text(2, id_text).text(3, name_text);
    if (amount_text.empty())
      ins.integer(4, amount);
    else
      ins.text(4, amount_text);
    ins.text(5, kPurposes[purpose]).text(6, approved_text);
    if (paid.empty())
      ins.null(7);
    else
      ins.text(7, paid.to_string());
    if (donation)
      ins.integer(8, donation);
    else
      ins.null(8);
    ins.text(9, kStatus[status]).text(10, updated).run();
    std::string key = std::to_string(id);
    if (!reason.empty()) {
      truth.quarantine("fund", source_g, static_cast<uint64_t>(id), key, reason, d);
      return;
    }
    if (repaired) truth.repair("fund", source_g, static_cast<uint64_t>(id), key, d);
    auto json = [&](int st, CivilDate paid_on, const std::string& upd, bool wal_only) {
      Json s;
      s.str("resident_id", clean_id)
          .str("id_type", "居民身份证")
          .str("name", name)
          .str("name_match_key", p.name);
      Json j;
      j.num("grant_id", id)
          .obj("student", s)
          .num("amount_fen", amount)
          .str("purpose", kPurposes[purpose]);
      j.str("approved_on", approved.to_string());
      if (!paid_on.empty()) j.str("paid_on", paid_on.to_string());
      j.num("donation_id", donation).str("status", kStatus[st]);
      j.str("updated_at", cst_to_utc_rfc3339(upd)).boolean("wal_only", wal_only);
      return j.done();
    };
    grants[key] = json(status, paid, updated, wal);
    // Later (in the WAL): some approved grants are paid.
    if (!wal && status == 1 && rng.chance(0.5)) {
      CivilDate paid2 = CivilDate::from_days_since_epoch(ref.days_since_epoch() - 1);
      std::string upd2 = stamp_on(paid2, rng);
      grants[key] = json(2, paid2, upd2, true);
      late.push_back({id, paid2.to_string(), upd2});
    }
  };
  db.exec("BEGIN");
  for (size_t gi = 0; gi < main_part; ++gi)
    grant(gi, false);
  db.exec("COMMIT");
  // Everything so far goes into the main file; what follows stays in the WAL.
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.exec("BEGIN");
  donation(n_don, true);
  for (size_t gi = main_part; gi < recipients.size(); ++gi)
    grant(gi, true);
  db.exec("COMMIT");
  // The late payments, one transaction.
  db.exec("BEGIN");
  {
    Stmt upd(db.get(),
             "UPDATE grant_award SET status = '已发放', paid_on = ?, updated_at = ? WHERE id = ?");
    for (const LatePayment& l : late)
      upd.text(1, l.paid_on).text(2, l.updated_at).integer(3, l.id).run();
  }
  db.exec("COMMIT");
  don_ins.finalize();
  ins.finalize();
  db.close();
  std::filesystem::remove(path + "-shm");
  for (const char* suffix : {"", "-wal"}) {
    Json j;
    j.str("system", "fund")
        .str("path", std::string("fund/fund.sqlite") + suffix)
        .str("format", "sqlite");
    truth.file(j.done());
  }
  truth.write_state("fund.donation", donations);
  truth.write_state("fund.grant", grants);
  topics["fund.donation"] = donations.size();
  topics["fund.grant"] = grants.size();
}

}  // namespace county
