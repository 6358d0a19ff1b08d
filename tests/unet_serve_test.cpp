// unet_serve over loopback, as a subprocess on a free port: the page, health, a good volume (the
// served mask, slices and mL equal an in-process predict_volume on the same file), both upload
// forms, every rejection (not NIfTI, corrupt, unmappable, empty, oversize, chunked, unknown job,
// bad parameters) with its message and the server still serving afterwards, concurrent uploads
// that must not mix, temp files gone, a clean stop on SIGTERM; and the page end to end in headless
// Chromium (tests/serve_browser/run_browser_test.sh), whose screenshot is kept in
// ${UNET_BINARY_DIR}/artifacts/serve.png.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "engine/device.h"
#include "io/nifti.h"
#include "io/orientation.h"
#include "io/png.h"
#include "phantom/phantom.h"
#include "tests/testing/app_run.h"
#include "tests/testing/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/testing.h"
#include "workflow/checkpoint.h"
#include "workflow/predictor.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace unet;

namespace {

const std::string kBinary = UNET_BINARY_DIR "/unet_serve";
const std::string kBrowserScript = UNET_SOURCE_DIR "/tests/serve_browser/run_browser_test.sh";
constexpr int kInt16 = 4;  // NIFTI_TYPE_INT16
constexpr int kNet = 32;   // network slices 32x32; test volumes 64x64 (stride 2)
constexpr int kBatch = 4;
constexpr int64_t kMaxUpload = 1024 * 1024;  // --max-upload-mb 1

using unet::testing::file_contents;

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string gzip(const std::string& raw) {
  const unet::testing::TempDir dir("unet_serve_gz");
  const std::string p = dir.file("data.gz");
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, raw.data(), static_cast<unsigned>(raw.size()));
  gzclose(f);
  return file_contents(p);
}

// The server as a subprocess (tests/testing/server_process.h), started from this build's binary.
class ServerProcess : public unet::testing::ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const fs::path& log)
      : unet::testing::ServerProcess(kBinary, args, log) {}
};

// A tiny U-Net (depth 2, base 4) that acts as a soft-tissue threshold, so masks are real shapes
// with boundaries rather than all-empty or all-full: one identity path x -> enc0 -> skip -> dec0 ->
// head (ReLUs pass the positive part), every other weight zero, logit = 20 * (relu(x) - 0.25).
void make_threshold_model(model::UNet& net) {
  for (const model::ParamRef& p : net.named_tensors()) {
    std::fill(p.tensor->f32(), p.tensor->f32() + p.tensor->numel(), 0.0f);
  }
  // Engine conv weights are KRSC; the centre tap of a 3x3 kernel is (r, s) = (1, 1).
  auto centre = [&](const std::string& name, int k, int c) {
    for (const model::ParamRef& p : net.named_tensors()) {
      if (p.name != name) continue;
      const Shape& s = p.tensor->shape();
      p.tensor->f32()[((k * s[1] + 1) * s[2] + 1) * s[3] + c] = 1.0f;
    }
  };
  centre("enc0.conv1.weight", 0, 0);
  centre("enc0.conv2.weight", 0, 0);
  centre("dec0.conv1.weight", 0, 4);  // input channels [up (4), skip (4)]: skip channel 0
  centre("dec0.conv2.weight", 0, 0);
  for (const model::ParamRef& p : net.named_tensors()) {
    if (p.name == "head.weight") p.tensor->f32()[0] = 20.0f;
    if (p.name == "head.bias") p.tensor->f32()[0] = -5.0f;
  }
}

phantom::Phantom phantom(int nx, int ny, int nz, uint64_t seed) {
  phantom::PhantomOptions po;
  po.nx = nx;
  po.ny = ny;
  po.nz = nz;
  po.seed = seed;
  return phantom::make_phantom(po);
}

void write_ct(const fs::path& path, const phantom::Phantom& ph) {
  io::write_nifti(path.string(), ph.geometry, std::vector<float>(ph.hu.begin(), ph.hu.end()),
                  kInt16);
}

class UnetServe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A client write that races the server's close must fail as a test assertion, not kill the
    // whole test binary with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    root_ = std::make_unique<unet::testing::TempDir>("unet_serve_test");
    fs::create_directories(root() / "tmp");
    pre_ = new workflow::Preprocess();
    pre_->slice.height = pre_->slice.width = kNet;
    pre_->norm.mean = 0.2;
    pre_->norm.std = 0.2;
    model::UNetConfig cfg;
    cfg.depth = 2;
    cfg.base = 4;
    model::UNet net(cfg, 3);
    make_threshold_model(net);
    workflow::save_checkpoint(ckpt(), net, nullptr,
                              {{"preprocess", workflow::preprocess_to_json(*pre_)}});
    write_ct(root() / "good.nii.gz", phantom(64, 64, 12, 21));
    // --device cpu: the in-process reference runs on the CPU too, so masks compare bit for bit
    // (CudaDeviceServesWhenPresent covers the GPU).
    server_ = new ServerProcess(
        {"--checkpoint", ckpt(), "--device", "cpu", "--max-upload-mb", "1", "--batch",
         std::to_string(kBatch), "--max-queue", "64", "--tmp-dir", (root() / "tmp").string()},
        root() / "server.log");
  }
  static void TearDownTestSuite() {
    delete server_;
    unet::testing::drop_scratch(root_);  // UNET_KEEP_TEST_FILES=1 keeps it for a look
    delete pre_;
  }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is missing: build the unet_serve target";
    ASSERT_TRUE(server_->running()) << "unet_serve did not start:\n" << server_->log();
  }

  static const fs::path& root() { return root_->path(); }
  static std::string ckpt() { return (root() / "threshold.safetensors").string(); }
  // One HTTP exchange over a plain socket: the whole request in one send, then everything the
  // server answers until it closes. For requests the server refuses without reading their body:
  // httplib's client would write the body after the server has closed and die of SIGPIPE (or fail
  // the write) depending on timing; one send before any answer cannot. Returns the status code and
  // the response body.
  static std::pair<int, std::string> raw_exchange(const std::string& request) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {0, "socket failed"};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t got; (got = recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, got);
    }
    close(fd);
    std::smatch m;
    if (!std::regex_search(response, m, std::regex("^HTTP/1\\.1 (\\d{3})"))) return {0, response};
    const size_t body = response.find("\r\n\r\n");
    return {std::stoi(m[1]), body == std::string::npos ? "" : response.substr(body + 4)};
  }

  static std::unique_ptr<httplib::Client> client() {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    c->set_read_timeout(60);
    c->set_write_timeout(60);
    return c;
  }

  // The in-process reference: what unet_predict computes for this file with this checkpoint.
  static workflow::VolumePrediction reference(const fs::path& file) {
    const workflow::CheckpointContents c = workflow::read_checkpoint(ckpt());
    model::UNet net = workflow::load_model(c);
    workflow::PredictOptions po;
    po.batch = kBatch;
    return workflow::predict_volume(net, c.preprocess(), io::read_nifti(file.string()), po);
  }

  // Submits raw bytes; returns the response JSON and status.
  static json submit(httplib::Client& c, const std::string& bytes, const std::string& name,
                     int* status) {
    auto r = c.Post(("/api/jobs?name=" + name).c_str(), bytes, "application/octet-stream");
    *status = r ? r->status : -1;
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  // Long-polls until the job is done or failed (at most 60 s).
  static json wait_done(httplib::Client& c, const std::string& id) {
    json j;
    for (int i = 0; i < 12; ++i) {
      auto r = c.Get(("/api/jobs/" + id + "?wait=5").c_str());
      if (!r || r->status != 200) return json{{"status", "http error"}};
      j = json::parse(r->body);
      if (j["status"] == "done" || j["status"] == "failed") return j;
    }
    return j;
  }
  static void expect_http_error(const httplib::Result& r, int status, const std::string& part) {
    ASSERT_TRUE(r) << "no answer: " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    const json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.contains("error")) << r->body;
    EXPECT_NE(j["error"].get<std::string>().find(part), std::string::npos)
        << "want '" << part << "' in: " << j["error"];
  }
  static void expect_healthy() {
    auto r = client()->Get("/api/health");
    ASSERT_TRUE(r) << "server stopped answering:\n" << server_->log();
    EXPECT_EQ(r->status, 200);
  }
  // The server's private folder under --tmp-dir holds no file between requests.
  static void expect_no_temp_files() {
    int64_t dirs = 0;
    for (const auto& d : fs::directory_iterator(root() / "tmp")) {
      ++dirs;
      EXPECT_TRUE(d.is_directory()) << d.path();
      EXPECT_TRUE(fs::is_empty(d.path())) << d.path() << " still holds files";
    }
    EXPECT_EQ(dirs, 1) << "want exactly the server's private folder in " << root() / "tmp";
  }

  static std::unique_ptr<unet::testing::TempDir> root_;
  static workflow::Preprocess* pre_;
  static ServerProcess* server_;
};
std::unique_ptr<unet::testing::TempDir> UnetServe::root_;
workflow::Preprocess* UnetServe::pre_ = nullptr;
ServerProcess* UnetServe::server_ = nullptr;

TEST_F(UnetServe, HealthDescribesModelAndLimit) {
  auto r = client()->Get("/api/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json j = json::parse(r->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["input"]["height"], kNet);
  EXPECT_EQ(j["input"]["resample"], "stride");
  EXPECT_EQ(j["max_upload_bytes"].get<int64_t>(), kMaxUpload);
  EXPECT_NE(j["model"].get<std::string>().find("depth 2, base 4"), std::string::npos);
}

TEST_F(UnetServe, PageIsSelfContained) {
  auto r = client()->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  for (const char* part : {"type=\"file\"", "type=\"range\"", "/api/jobs", "mL", "download"}) {
    EXPECT_NE(r->body.find(part), std::string::npos) << part;
  }
  // No external assets: nothing is loaded from another origin.
  const std::regex external(R"((src|href)\s*=\s*["']?(https?:)?//)");
  EXPECT_FALSE(std::regex_search(r->body, external));
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
}

TEST_F(UnetServe, GoodVolumeMatchesInProcessPrediction) {
  auto c = client();
  const fs::path file = root() / "good.nii.gz";
  int status = 0;
  // A name with path parts: only its sanitised last component is ever shown.
  const json sub = submit(*c, file_contents(file), "..%2F..%2Fetc%2Fcase%20one.nii.gz", &status);
  ASSERT_EQ(status, 202) << sub.dump();
  const std::string id = sub["id"];
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << id;
  EXPECT_EQ(sub["name"], "caseone.nii.gz");
  const json j = wait_done(*c, id);
  ASSERT_EQ(j["status"], "done") << j.dump();

  const workflow::VolumePrediction ref = reference(file);
  ASSERT_GT(ref.liver_voxels, 0) << "the test model must find something";
  ASSERT_LT(ref.liver_voxels, 64 * 64 * 12) << "the test model must not find everything";
  const json& r = j["result"];
  EXPECT_EQ(r["nx"], 64);
  EXPECT_EQ(r["ny"], 64);
  EXPECT_EQ(r["nz"], 12);
  EXPECT_EQ(r["liver_voxels"].get<int64_t>(), ref.liver_voxels);
  // Same arithmetic on the same voxel count: equal to double rounding.
  EXPECT_NEAR(r["liver_volume_ml"].get<double>(), ref.liver_volume_ml, 1e-9);
  EXPECT_EQ(j["progress"]["done_slices"], 12);

  // The mask download: the prediction on the input's grid.
  auto m = c->Get(r["mask_url"].get<std::string>().c_str());
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Disposition"),
            "attachment; filename=\"caseone_mask.nii.gz\"");
  spit(root() / "mask.nii.gz", m->body);
  const io::NiftiVolume mask = io::read_nifti((root() / "mask.nii.gz").string());
  std::string why;
  EXPECT_TRUE(io::same_grid(mask.geometry, io::read_nifti(file.string()).geometry, &why)) << why;
  ASSERT_EQ(mask.voxels.size(), ref.mask.size());
  for (size_t i = 0; i < ref.mask.size(); ++i) ASSERT_EQ(mask.voxels[i], ref.mask[i]) << i;

  // A slice with liver: the overlay's yellow pixels are exactly the mask slice's boundary, and
  // the gray image is the CT in the liver window.
  const int64_t k = r["largest_liver_slice"];
  ASSERT_GT(r["liver_pixels_per_slice"][k].get<int64_t>(), 0);
  const std::string url = "/api/jobs/" + id + "/slices/" + std::to_string(k) + ".png";
  auto s = c->Get(url.c_str());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->status, 200) << s->body;
  EXPECT_EQ(s->get_header_value("Content-Type"), "image/png");
  spit(root() / "slice.png", s->body);
  const io::PngImage png = io::read_png((root() / "slice.png").string());
  ASSERT_EQ(png.channels, 3);
  ASSERT_EQ(png.h, 64);
  ASSERT_EQ(png.w, 64);
  const std::vector<uint8_t> edge = io::mask_boundary(ref.mask.data() + k * 64 * 64, 64, 64);
  for (int i = 0; i < 64 * 64; ++i) {
    const uint8_t* p = &png.pixels[3 * i];
    const bool yellow = p[0] == 255 && p[1] == 255 && p[2] == 0;
    ASSERT_EQ(yellow, edge[i] != 0) << "pixel " << i << ": yellow exactly on the boundary";
  }
  auto g = c->Get((url + "?overlay=0").c_str());
  ASSERT_TRUE(g);
  spit(root() / "gray.png", g->body);
  const io::PngImage gray = io::read_png((root() / "gray.png").string());
  ASSERT_EQ(gray.channels, 1);
  const io::NiftiVolume ct = io::read_nifti(file.string());
  for (int i = 0; i < 64 * 64; ++i) {
    const float hu = ct.voxels[k * 64 * 64 + i];
    const float want = std::clamp((hu + 100.0f) / 500.0f, 0.0f, 1.0f) * 255.0f;  // [-100, 400]
    ASSERT_NEAR(gray.pixels[i], want, 1.0f) << "pixel " << i << " HU " << hu;    // rounding
  }
  expect_no_temp_files();
}

TEST_F(UnetServe, MultipartAndUncompressedUploadGiveTheSameResult) {
  // The same voxels as a plain .nii sent as a form field (curl -F file=@...).
  const phantom::Phantom ph = phantom(64, 64, 5, 33);
  write_ct(root() / "plain.nii", ph);
  write_ct(root() / "plain.nii.gz", ph);
  auto c = client();
  auto r =
      c->Post("/api/jobs", httplib::MultipartFormDataItems{
                               {"file", file_contents(root() / "plain.nii"), "plain.nii", ""}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const json a = wait_done(*c, json::parse(r->body)["id"]);
  int status = 0;
  const json sub = submit(*c, file_contents(root() / "plain.nii.gz"), "plain.nii.gz", &status);
  ASSERT_EQ(status, 202);
  const json b = wait_done(*c, sub["id"]);
  ASSERT_EQ(a["status"], "done") << a.dump();
  ASSERT_EQ(b["status"], "done") << b.dump();
  EXPECT_EQ(a["name"], "plain.nii");
  EXPECT_EQ(a["result"]["liver_voxels"], b["result"]["liver_voxels"]);
  EXPECT_EQ(a["result"]["liver_voxels"].get<int64_t>(),
            reference(root() / "plain.nii").liver_voxels);
}

// A volume stored in another voxel order (here RAS: i and j reversed, the affine adjusted so the
// anatomy is unchanged) is segmented in the canonical LPS order: the same liver volume, the same
// axial slices on the page, and the mask download in the upload's own voxel order and header.
TEST_F(UnetServe, AnyVoxelOrderGivesTheSameSegmentation) {
  auto c = client();
  const fs::path lps = root() / "good.nii.gz";
  const io::NiftiVolume ct = io::read_nifti(lps.string());
  const io::NiftiGeometry& g = ct.geometry;
  io::AxisMap to_ras;
  to_ras.flip = {true, true, false};
  const io::NiftiGeometry ras_g = io::remap_geometry(g, to_ras);
  ASSERT_EQ(io::orientation_name(ras_g, "t"), "RAS");
  const fs::path ras = root() / "good_ras.nii.gz";
  io::write_nifti(ras.string(), ras_g, io::remap_voxels(ct.voxels, g.nx, g.ny, g.nz, to_ras),
                  kInt16);
  int status = 0;
  const json a = submit(*c, file_contents(lps), "lps.nii.gz", &status);
  ASSERT_EQ(status, 202) << a;
  const json b = submit(*c, file_contents(ras), "ras.nii.gz", &status);
  ASSERT_EQ(status, 202) << b;
  const json ja = wait_done(*c, a["id"]), jb = wait_done(*c, b["id"]);
  ASSERT_EQ(ja["status"], "done") << ja;
  ASSERT_EQ(jb["status"], "done") << jb;
  EXPECT_EQ(jb["result"]["liver_voxels"], ja["result"]["liver_voxels"]);
  EXPECT_EQ(jb["result"]["liver_pixels_per_slice"], ja["result"]["liver_pixels_per_slice"]);
  // The page shows the same canonical slice for both.
  const int64_t k = ja["result"]["largest_liver_slice"];
  auto slice = [&](const json& job) {
    auto r = c->Get(
        ("/api/jobs/" + job["id"].get<std::string>() + "/slices/" + std::to_string(k) + ".png")
            .c_str());
    return r ? r->body : std::string();
  };
  EXPECT_EQ(slice(jb), slice(ja));
  // The RAS upload's mask comes back in RAS order with the RAS header.
  auto m = c->Get(jb["result"]["mask_url"].get<std::string>().c_str());
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  spit(root() / "ras_mask.nii.gz", m->body);
  const io::NiftiVolume mask = io::read_nifti((root() / "ras_mask.nii.gz").string());
  std::string why;
  EXPECT_TRUE(io::same_grid(mask.geometry, ras_g, &why)) << why;
  const workflow::VolumePrediction ref = reference(lps);
  const std::vector<float> want(ref.mask.begin(), ref.mask.end());
  EXPECT_EQ(mask.voxels, io::remap_voxels(want, g.nx, g.ny, g.nz, to_ras));
}

TEST_F(UnetServe, BadVolumesAreRejectedWithTheCliMessage) {
  auto c = client();
  int status = 0;
  // Not NIfTI at all, by content (the name claims .nii.gz).
  json j = submit(*c, "this is not a CT volume", "fake.nii.gz", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["error"],
            "fake.nii.gz: not a NIfTI-1/NIfTI-2 volume (no NIfTI header at the "
            "start); upload a .nii or .nii.gz CT volume");
  j = submit(*c, gzip("still not a CT volume"), "fake.nii.gz", &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(j["error"].get<std::string>().find("gzip data without a NIfTI header"),
            std::string::npos)
      << j;
  j = submit(*c, "", "empty.nii", &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(j["error"].get<std::string>().find("empty.nii: the upload is empty"), std::string::npos)
      << j;

  // A real header with its data cut short: read_nifti's (the CLI's) message, with the upload's
  // name where the CLI prints the path.
  write_ct(root() / "whole.nii", phantom(64, 64, 4, 9));
  const std::string good = file_contents(root() / "whole.nii");
  ASSERT_GT(good.size(), 4000u);
  const fs::path cut = root() / "cut.nii";
  spit(cut, good.substr(0, 4000));
  const std::string cli = unet::testing::error_message([&] { io::read_nifti(cut.string()); });
  ASSERT_EQ(cli.rfind(cut.string() + ": ", 0), 0u) << cli;
  j = submit(*c, file_contents(cut), "cut.nii", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["error"], "cut.nii" + cli.substr(cut.string().size())) << j;

  // 50x64 slices are no multiple of the checkpoint's 32x32 stride grid: no longer refused, they
  // are resampled bilinearly (workflow::inference_resample), exactly as unet_predict does.
  const fs::path odd = root() / "odd.nii.gz";
  write_ct(odd, phantom(50, 64, 4, 5));
  j = submit(*c, file_contents(odd), "odd.nii.gz", &status);
  ASSERT_EQ(status, 202) << j;
  const json done = wait_done(*c, j["id"]);
  ASSERT_EQ(done["status"], "done") << done;
  EXPECT_EQ(done["result"]["liver_voxels"].get<int64_t>(), reference(odd).liver_voxels);

  expect_healthy();
  expect_no_temp_files();
}

TEST_F(UnetServe, OversizeAndChunkedUploadsAreRefused) {
  auto c = client();
  const std::string big(static_cast<size_t>(kMaxUpload) + 1, 'x');
  expect_http_error(c->Post("/api/jobs", big, "application/octet-stream"), 413,
                    "over this server's limit of 1048576 bytes");
  expect_healthy();
  // Exactly the limit passes the size check (and fails as not NIfTI).
  expect_http_error(c->Post("/api/jobs", big.substr(1), "application/octet-stream"), 400,
                    "not a NIfTI-1/NIfTI-2 volume");
  // A chunked body has no size up front and would bypass the limit. The server answers 411 without
  // reading the body, so the request goes out in one send (raw_exchange says why).
  const auto [status, body] = raw_exchange(
      "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(status, 411) << body;
  const json j = json::parse(body, nullptr, false);
  ASSERT_TRUE(j.contains("error")) << body;
  EXPECT_NE(j["error"].get<std::string>().find("Content-Length"), std::string::npos) << j;
  expect_healthy();
  expect_no_temp_files();
}

TEST_F(UnetServe, UnknownJobsAndBadParametersAreRejected) {
  auto c = client();
  const std::string nobody(32, 'a');
  expect_http_error(c->Get(("/api/jobs/" + nobody).c_str()), 404, "no job " + nobody);
  expect_http_error(c->Get(("/api/jobs/" + nobody + "/mask.nii.gz").c_str()), 404, "no job");
  expect_http_error(c->Get(("/api/jobs/" + nobody + "/slices/0.png").c_str()), 404, "no job");
  expect_http_error(c->Get("/api/jobs/..%2F..%2Fetc%2Fpasswd"), 404, "no such page or endpoint");
  expect_http_error(c->Get("/api/nothing"), 404, "no such page or endpoint: GET /api/nothing");

  int status = 0;
  const json sub = submit(*c, file_contents(root() / "good.nii.gz"), "good.nii.gz", &status);
  ASSERT_EQ(status, 202);
  const std::string id = sub["id"];
  expect_http_error(c->Get(("/api/jobs/" + id + "?wait=abc").c_str()), 400, "wait=abc must be");
  expect_http_error(c->Get(("/api/jobs/" + id + "?wait=31").c_str()), 400, "[0, 30]");
  ASSERT_EQ(wait_done(*c, id)["status"], "done");
  expect_http_error(c->Get(("/api/jobs/" + id + "/slices/12.png").c_str()), 404,
                    "slice 12 is outside the volume (0..11)");
  expect_http_error(c->Get(("/api/jobs/" + id + "/slices/0.png?overlay=2").c_str()), 400,
                    "overlay=2 must be 0 or 1");
  expect_healthy();
}

TEST_F(UnetServe, ConcurrentUploadsNeverMixResults) {
  // Eight clients at once, each with its own volume (different depth and anatomy); each must get
  // back exactly its own prediction.
  constexpr int kClients = 8;
  std::vector<fs::path> files;
  for (int i = 0; i < kClients; ++i) {
    files.push_back(root() / ("conc" + std::to_string(i) + ".nii.gz"));
    write_ct(files.back(), phantom(64, 64, 4 + i, 100 + i));
  }
  std::vector<json> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = client();
      int status = 0;
      const json sub =
          submit(*c, file_contents(files[i]), "conc" + std::to_string(i) + ".nii.gz", &status);
      if (status != 202) {
        results[i] = json{{"status", "submit " + std::to_string(status)}};
        return;
      }
      results[i] = wait_done(*c, sub["id"]);
      auto m = c->Get(results[i]["result"]["mask_url"].get<std::string>().c_str());
      results[i]["mask_bytes"] = m ? m->body.size() : 0;
      if (m) spit(root() / ("conc_mask" + std::to_string(i) + ".nii.gz"), m->body);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    ASSERT_EQ(results[i]["status"], "done") << results[i].dump();
    EXPECT_EQ(results[i]["name"], "conc" + std::to_string(i) + ".nii.gz");
    EXPECT_EQ(results[i]["result"]["nz"], 4 + i);
    const workflow::VolumePrediction ref = reference(files[i]);
    EXPECT_EQ(results[i]["result"]["liver_voxels"].get<int64_t>(), ref.liver_voxels);
    const io::NiftiVolume mask =
        io::read_nifti((root() / ("conc_mask" + std::to_string(i) + ".nii.gz")).string());
    ASSERT_EQ(mask.voxels.size(), ref.mask.size());
    for (size_t v = 0; v < ref.mask.size(); ++v) ASSERT_EQ(mask.voxels[v], ref.mask[v]) << v;
  }
  expect_no_temp_files();
}

// A slow job (the seed-size U-Net at 256x256 on the CPU, 0.05-0.2 s per slice, 20 slices) holds the
// worker while the queue (--max-queue 1) fills up: the next upload waits, the one after is refused
// 503, and results of unfinished jobs are refused 409. SIGTERM then stops the server mid-job.
TEST_F(UnetServe, FullQueueAndUnfinishedJobsAreRefused) {
  workflow::Preprocess pre;  // 256x256, stride, liver window
  pre.norm.mean = 0.2;
  pre.norm.std = 0.2;
  model::UNet net(model::UNetConfig{}, 5);
  const std::string big = (root() / "seed.safetensors").string();
  workflow::save_checkpoint(big, net, nullptr, {{"preprocess", workflow::preprocess_to_json(pre)}});
  const fs::path tmp = root() / "tmp-busy";
  fs::create_directories(tmp);
  ServerProcess s({"--checkpoint", big, "--device", "cpu", "--batch", "1", "--max-queue", "1",
                   "--tmp-dir", tmp.string()},
                  root() / "busy.log");
  ASSERT_TRUE(s.running()) << s.log();
  write_ct(root() / "slow.nii.gz", phantom(256, 256, 20, 11));
  write_ct(root() / "one.nii.gz", phantom(256, 256, 4, 12));
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60);
  auto a = c.Post("/api/jobs?name=slow.nii.gz", file_contents(root() / "slow.nii.gz"),
                  "application/octet-stream");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->status, 202) << a->body;
  const std::string slow = json::parse(a->body)["id"];
  json j = json::parse(c.Get(("/api/jobs/" + slow).c_str())->body);
  for (int i = 0; i < 10 && j["status"] == "queued"; ++i) {
    j = json::parse(c.Get(("/api/jobs/" + slow + "?wait=2").c_str())->body);
  }
  ASSERT_EQ(j["status"], "running") << j.dump();

  auto b = c.Post("/api/jobs?name=one.nii.gz", file_contents(root() / "one.nii.gz"),
                  "application/octet-stream");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 202) << b->body;
  const json queued = json::parse(b->body);
  EXPECT_EQ(queued["status"], "queued");
  EXPECT_EQ(queued["position"], 0);
  auto full = c.Post("/api/jobs?name=one.nii.gz", file_contents(root() / "one.nii.gz"),
                     "application/octet-stream");
  expect_http_error(full, 503, "the inference queue is full (1 volumes waiting); try again");
  EXPECT_EQ(full->get_header_value("Retry-After"), "30");
  expect_http_error(
      c.Get(("/api/jobs/" + queued["id"].get<std::string>() + "/slices/0.png").c_str()), 409,
      "is queued, not done; poll GET /api/jobs/");
  expect_http_error(c.Get(("/api/jobs/" + slow + "/mask.nii.gz").c_str()), 409,
                    "is running, not done");
  j = json::parse(c.Get(("/api/jobs/" + slow).c_str())->body);
  EXPECT_EQ(j["status"], "running") << "the 409s above are only meaningful while it runs";

  EXPECT_EQ(s.stop(SIGTERM), 0) << s.log();
  EXPECT_TRUE(fs::is_empty(tmp)) << "temp folder left behind";
}

TEST_F(UnetServe, CudaDeviceServesWhenPresent) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const fs::path tmp = root() / "tmp-cuda";
  fs::create_directories(tmp);
  ServerProcess s({"--checkpoint", ckpt(), "--device", "cuda", "--tmp-dir", tmp.string()},
                  root() / "cuda.log");
  ASSERT_TRUE(s.running()) << s.log();
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(60);
  EXPECT_EQ(json::parse(c.Get("/api/health")->body)["device"], "cuda:0");
  int status = 0;
  const json sub = submit(c, file_contents(root() / "good.nii.gz"), "good.nii.gz", &status);
  ASSERT_EQ(status, 202) << sub.dump();
  const json j = wait_done(c, sub["id"]);
  ASSERT_EQ(j["status"], "done") << j.dump();
  // CUDA and CPU round differently; with logits 20 * (relu(x) - 0.25) only voxels within about
  // 1e-5 of the threshold can flip, a tiny fraction of the 49152.
  const int64_t ref = reference(root() / "good.nii.gz").liver_voxels;
  EXPECT_NEAR(j["result"]["liver_voxels"].get<double>(), ref, 0.002 * 64 * 64 * 12);
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.log();
  EXPECT_TRUE(fs::is_empty(tmp)) << "temp folder left behind";
}

TEST_F(UnetServe, StopsOnSigtermAndRemovesItsTempFolder) {
  const fs::path tmp = root() / "tmp-stop";
  fs::create_directories(tmp);
  ServerProcess s({"--checkpoint", ckpt(), "--device", "cpu", "--tmp-dir", tmp.string()},
                  root() / "stop.log");
  ASSERT_TRUE(s.running()) << s.log();
  EXPECT_FALSE(fs::is_empty(tmp)) << "the private temp folder should exist while serving";
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.log();
  EXPECT_TRUE(fs::is_empty(tmp)) << "temp folder left behind";
  EXPECT_NE(s.log().find("unet_serve: stopped"), std::string::npos) << s.log();
}

TEST_F(UnetServe, BadOptionsFailAtStartWithOneLine) {
  ServerProcess s({"--checkpoint", ckpt(), "--max-upload-mb", "0"}, root() / "bad.log");
  EXPECT_FALSE(s.running());
  const std::string log = s.log();
  EXPECT_EQ(log, "unet_serve: error: --max-upload-mb 0.000000 must be in (0, 1048576], e.g. 512\n");
  ServerProcess missing({"--checkpoint", (root() / "nope.safetensors").string()},
                        root() / "missing.log");
  EXPECT_FALSE(missing.running());
  EXPECT_NE(missing.log().find("unet_serve: error: " + (root() / "nope.safetensors").string()),
            std::string::npos)
      << missing.log();
}

// The page in headless Chromium: /?demo=1 fetches the server's synthetic phantom, uploads it
// through the page's own upload code, waits for the result and titles the page "done: <mL> mL"
// once the first slice image has loaded; the screenshot must show the yellow boundary.
TEST_F(UnetServe, BrowserShowsOverlayEndToEnd) {
  const fs::path artifacts = fs::path(UNET_BINARY_DIR) / "artifacts";
  fs::create_directories(artifacts);
  fs::remove(artifacts / "serve.png");
  const std::string url = "http://127.0.0.1:" + std::to_string(server_->port());
  const std::string cmd = "sh '" + kBrowserScript + "' '" + url + "' '" + artifacts.string() +
                          "' > '" + (root() / "browser.log").string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const std::string log = file_contents(root() / "browser.log");
  if (code == 77) GTEST_SKIP() << log;
  ASSERT_EQ(code, 0) << log << "\nserver log:\n" << server_->log();

  // Expected volume: the same demo volume through the in-process predictor.
  auto d = client()->Get("/api/demo-volume");
  ASSERT_TRUE(d);
  spit(root() / "demo.nii.gz", d->body);
  const workflow::VolumePrediction ref = reference(root() / "demo.nii.gz");
  ASSERT_GT(ref.liver_voxels, 0);
  char want[64];
  std::snprintf(want, sizeof want, "<title>done: %.1f mL</title>", ref.liver_volume_ml);
  const std::string dom = file_contents(artifacts / "serve_dom.html");
  EXPECT_NE(dom.find(want), std::string::npos) << "want " << want << " in the DOM:\n" << dom;

  ASSERT_TRUE(fs::exists(artifacts / "serve.png")) << log;
  const io::PngImage shot = io::read_png((artifacts / "serve.png").string());
  EXPECT_EQ(shot.w, 1280);
  ASSERT_EQ(shot.channels, 3);
  // The boundary is drawn pure yellow (255, 255, 0); the page's own accent is #f5d90a, so only
  // the overlay matches. The 64x64 slice is shown magnified (pixelated), hence many pixels.
  int64_t yellow = 0;
  for (size_t i = 0; i + 2 < shot.pixels.size(); i += 3) {
    yellow += shot.pixels[i] >= 250 && shot.pixels[i + 1] >= 250 && shot.pixels[i + 2] <= 5;
  }
  EXPECT_GT(yellow, 500) << "no liver boundary visible in " << artifacts / "serve.png";
  std::cout << "browser screenshot: " << (artifacts / "serve.png").string() << " (" << yellow
            << " boundary pixels)\n";
}

}  // namespace
