// The HTTP surface (cpp-httplib does all parsing): the page at "/", the JSON API under /api
// (docs/SERVE.md), slice PNGs and the mask download. Every error is a JSON {"error": "..."} with a
// 4xx/5xx status; handlers never let an exception escape, so a bad request cannot stop the server.
#include <httplib.h>
#include <png.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>
#include <vector>

#include "apps/unet_serve/serve_app.h"
#include "io/png.h"
#include "phantom/phantom.h"

namespace unet::apps::serve {
namespace {

using json = nlohmann::json;
constexpr int kNiftiInt16 = 4;      // NIFTI_TYPE_INT16
constexpr double kMaxWaitS = 30.0;  // long polls hold a server thread; keep them bounded
const char* const kIdPattern = "([0-9a-f]{32})";
const std::string kJobPath = std::string("/api/jobs/") + kIdPattern;
const std::string kSlicePath = kJobPath + R"(/slices/(\d{1,9})\.png)";
const std::string kMaskPath = kJobPath + R"(/mask\.nii\.gz)";

// Every path the server answers and its methods (HEAD comes with GET in httplib), so a known path
// asked with another method gets 405 and an Allow header rather than 404.
struct Route {
  std::regex path;
  const char* allow;
};
const std::vector<Route>& routes() {
  static const std::vector<Route> table = {{std::regex("/"), "GET, HEAD"},
                                           {std::regex("/api/health"), "GET, HEAD"},
                                           {std::regex("/api/demo-volume"), "GET, HEAD"},
                                           {std::regex("/api/jobs"), "POST"},
                                           {std::regex(kJobPath), "GET, HEAD"},
                                           {std::regex(kSlicePath), "GET, HEAD"},
                                           {std::regex(kMaskPath), "GET, HEAD"}};
  return table;
}

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}
void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, json{{"error", message}});
}

std::string job_url(const std::string& id) { return "/api/jobs/" + id; }

json job_json(const JobSnapshot& s) {
  json j = {{"id", s.id},
            {"name", s.name},
            {"status", job_state_name(s.state)},
            {"progress", {{"done_slices", s.done_slices}, {"total_slices", s.total_slices}}},
            {"version", s.version},
            {"url", job_url(s.id)}};
  if (s.state == JobState::kQueued) j["position"] = s.position;
  if (s.state == JobState::kFailed) j["error"] = s.error;
  if (s.state == JobState::kDone && s.result) {
    const JobResult& r = *s.result;
    int64_t first = -1, last = -1, largest = r.nz / 2;
    for (int64_t k = 0; k < r.nz; ++k) {
      if (r.liver_pixels[k] == 0) continue;
      if (first < 0) first = k;
      last = k;
      if (r.liver_pixels[k] > r.liver_pixels[largest] || r.liver_pixels[largest] == 0) largest = k;
    }
    j["result"] = {{"nx", r.nx},
                   {"ny", r.ny},
                   {"nz", r.nz},
                   {"spacing_mm", {r.spacing_mm[0], r.spacing_mm[1], r.spacing_mm[2]}},
                   {"liver_voxels", r.liver_voxels},
                   {"liver_volume_ml", r.liver_volume_ml},
                   {"liver_pixels_per_slice", r.liver_pixels},
                   {"first_liver_slice", first},
                   {"last_liver_slice", last},
                   {"largest_liver_slice", largest},
                   {"seconds", r.seconds},
                   {"slice_url", job_url(s.id) + "/slices/{k}.png"},
                   {"mask_url", job_url(s.id) + "/mask.nii.gz"}};
  }
  return j;
}

// 405 with Allow for a known path asked with a method it does not answer; 404 for an unknown path.
void refuse_route(const httplib::Request& req, httplib::Response& res) {
  for (const Route& r : routes()) {
    if (!std::regex_match(req.path, r.path)) continue;
    res.set_header("Allow", r.allow);
    send_error(res, 405,
               req.method + " " + req.path + ": this endpoint answers " + r.allow +
                   " only (see docs/SERVE.md)");
    return;
  }
  send_error(res, 404,
             "no such page or endpoint: " + req.method + " " + req.path +
                 " (the API is under /api, see docs/SERVE.md)");
}

// The finished result of the job named in the path, or an error response (false).
bool finished_result(JobQueue& queue, const std::string& id, httplib::Response& res,
                     JobSnapshot* s) {
  if (!queue.snapshot(id, 0, s)) {
    send_error(res, 404, "no job " + id + " (unknown, or dropped to make room for newer ones)");
    return false;
  }
  if (s->state != JobState::kDone) {
    send_error(res, 409,
               "job " + id + " is " + job_state_name(s->state) + ", not done" +
                   (s->state == JobState::kFailed ? " (" + s->error + ")" : "") + "; poll GET " +
                   job_url(id) + " until its status is done");
    return false;
  }
  return true;
}

void handle_submit(const httplib::Request& req, httplib::Response& res, JobQueue& queue,
                   const TempDir& tmp) {
  std::string client_name;
  const std::string* bytes = &req.body;
  httplib::MultipartFormData file;
  if (req.is_multipart_form_data()) {
    if (!req.has_file("file")) {
      send_error(res, 400,
                 "multipart upload without a field named 'file'; send the volume as "
                 "file=@CT.nii.gz or as the raw request body");
      return;
    }
    file = req.get_file_value("file");
    client_name = file.filename;
    bytes = &file.content;
  } else {
    client_name = req.get_param_value("name");
  }
  const std::string name = display_name(client_name);
  io::NiftiVolume volume;
  try {
    volume = read_upload(*bytes, name, tmp, queue.preprocess());
  } catch (const std::invalid_argument& e) {
    send_error(res, 400, e.what());
    return;
  }
  std::string id;
  try {
    id = queue.submit(std::move(volume), name);
  } catch (const JobQueue::QueueFull&) {
    res.set_header("Retry-After", "30");
    send_error(res, 503,
               "the inference queue is full (" + std::to_string(queue.waiting()) +
                   " volumes waiting); try again in a minute");
    return;
  }
  JobSnapshot s;
  queue.snapshot(id, 0, &s);
  res.set_header("Location", job_url(id));
  send_json(res, 202, job_json(s));
}

}  // namespace

std::string slice_png(const uint8_t* gray, const uint8_t* mask, int64_t ny, int64_t nx) {
  const int h = static_cast<int>(ny), w = static_cast<int>(nx);
  std::vector<uint8_t> rgb;
  if (mask) {
    const std::vector<float> image(gray, gray + ny * nx);
    rgb = io::make_overlay(image.data(), h, w, 0.0f, 255.0f, mask);
  }
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = mask ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  const void* pixels = mask ? static_cast<const void*>(rgb.data()) : gray;
  png_alloc_size_t size = 0;
  // First call sizes the buffer, the second fills it (libpng's simplified in-memory API).
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, pixels, 0, nullptr)) {
    throw std::runtime_error(std::string("slice PNG: ") + img.message);
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&img, out.data(), &size, 0, pixels, 0, nullptr)) {
    throw std::runtime_error(std::string("slice PNG: ") + img.message);
  }
  out.resize(size);
  return out;
}

std::string demo_volume_bytes(const workflow::Preprocess& preprocess, const TempDir& tmp) {
  // Twice the network size for small models (stride 2, like 512 -> 256), the network size for
  // big ones, so the demo stays a few hundred kB.
  const int h = preprocess.slice.height, w = preprocess.slice.width;
  const int f = std::max(h, w) <= 128 ? 2 : 1;
  phantom::PhantomOptions po;
  po.nx = std::max(16, w * f);
  po.ny = std::max(16, h * f);
  po.nz = 16;
  po.seed = 7;
  const phantom::Phantom ph = phantom::make_phantom(po);
  TempFile file(tmp, "demo-", ".nii.gz");
  io::write_nifti(file.path(), ph.geometry, std::vector<float>(ph.hu.begin(), ph.hu.end()),
                  kNiftiInt16);
  return read_file_bytes(file.path());
}

void add_routes(httplib::Server& server, JobQueue& queue, const Options& options,
                const TempDir& tmp) {
  const size_t max_upload = static_cast<size_t>(options.max_upload_mb * 1024 * 1024);

  // Refusals that need no body are made before httplib reads one. httplib would read a chunked
  // body, or a body without a Content-Length until the client closes, with no size limit, and it
  // reads an oversize body to its end before answering 413; the connection layer (main.cpp) closes
  // a connection whose body was left unread, after draining it briefly so the client sees the
  // answer.
  server.set_pre_routing_handler([max_upload](const httplib::Request& req, httplib::Response& res) {
    if (req.has_header("Transfer-Encoding")) {
      send_error(res, 411,
                 "upload without a Content-Length header (chunked bodies are not accepted); "
                 "send the file with its size");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") {
      refuse_route(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST" && !req.has_header("Content-Length")) {
      send_error(res, 411,
                 "upload without a Content-Length header (chunked bodies are not accepted); "
                 "send the file with its size");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.has_header("Content-Length")) {
      const std::string text = req.get_header_value("Content-Length");
      char* end = nullptr;
      errno = 0;
      const unsigned long long length = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0) {
        send_error(res, 400, "Content-Length '" + text + "' is not a byte count");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (length > max_upload) {
        send_error(res, 413,
                   "upload of " + text + " bytes is over this server's limit of " +
                       std::to_string(max_upload) +
                       " bytes; send a smaller volume or restart unet_serve with a larger "
                       "--max-upload-mb");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // Answers httplib produced without a handler: requests cut off by a time limit (the connection
  // layer knows why), parse failures, unknown routes.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_upload](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours already
        const ReadFailure failure = current_read_failure();
        if (failure.status != 0) {
          send_error(res, failure.status, failure.message);
        } else if (res.status == 413) {
          send_error(res, 413,
                     "upload of " + req.get_header_value("Content-Length") +
                         " bytes is over this server's limit of " + std::to_string(max_upload) +
                         " bytes; send a smaller volume or restart unet_serve with a larger "
                         "--max-upload-mb");
        } else if (res.status == 404) {
          refuse_route(req, res);
        } else if (res.status == 414) {
          send_error(res, 414, "the request target is longer than 8192 bytes");
        } else if (res.status == 400) {
          send_error(res, 400,
                     "malformed HTTP request (request line, method, header or body); send an "
                     "HTTP/1.1 request as docs/SERVE.md describes");
        } else {
          send_error(res, res.status, "bad request (" + std::to_string(res.status) + ")");
        }
        return httplib::Server::HandlerResponse::Handled;
      }));

  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, 500, "internal error: " + what);
      });

  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    // Everything is inline and same-origin; nothing else may load or run.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "img-src 'self'; connect-src 'self'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(page_html(), "text/html; charset=utf-8");
  });

  server.Get("/api/health", [&queue, max_upload](const httplib::Request&, httplib::Response& res) {
    const workflow::Preprocess& p = queue.preprocess();
    send_json(res, 200,
              json{{"status", "ok"},
                   {"model", queue.config().describe()},
                   {"device", queue.device()},
                   {"input",
                    {{"height", p.slice.height},
                     {"width", p.slice.width},
                     {"resample", io::resample_name(p.slice.resample)}}},
                   {"queue", queue.waiting()},
                   {"max_upload_bytes", max_upload}});
  });

  auto demo = std::make_shared<std::pair<std::mutex, std::string>>();
  server.Get("/api/demo-volume",
             [&queue, &tmp, demo](const httplib::Request&, httplib::Response& res) {
               std::lock_guard<std::mutex> lock(demo->first);
               if (demo->second.empty()) demo->second = demo_volume_bytes(queue.preprocess(), tmp);
               res.set_header("Content-Disposition", "attachment; filename=\"phantom.nii.gz\"");
               res.set_content(demo->second, "application/gzip");
             });

  server.Post("/api/jobs", [&queue, &tmp](const httplib::Request& req, httplib::Response& res) {
    handle_submit(req, res, queue, tmp);
  });

  server.Get(kJobPath, [&queue](const httplib::Request& req, httplib::Response& res) {
    double wait = 0;
    if (req.has_param("wait")) {
      const std::string text = req.get_param_value("wait");
      char* end = nullptr;
      wait = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(wait >= 0 && wait <= kMaxWaitS)) {
        send_error(res, 400, "wait=" + text + " must be a number of seconds in [0, 30]");
        return;
      }
    }
    JobSnapshot s;
    if (!queue.snapshot(req.matches[1], wait, &s)) {
      send_error(
          res, 404,
          "no job " + req.matches[1].str() + " (unknown, or dropped to make room for newer ones)");
      return;
    }
    send_json(res, 200, job_json(s));
  });

  server.Get(kSlicePath, [&queue](const httplib::Request& req, httplib::Response& res) {
    JobSnapshot s;
    if (!finished_result(queue, req.matches[1], res, &s)) return;
    const JobResult& r = *s.result;
    const int64_t k = std::stoll(req.matches[2]);
    if (k >= r.nz) {
      send_error(res, 404,
                 "slice " + std::to_string(k) + " is outside the volume (0.." +
                     std::to_string(r.nz - 1) + ")");
      return;
    }
    const std::string overlay = req.get_param_value("overlay");
    if (!overlay.empty() && overlay != "0" && overlay != "1") {
      send_error(res, 400, "overlay=" + overlay + " must be 0 or 1");
      return;
    }
    const int64_t px = r.nx * r.ny;
    const uint8_t* mask = overlay == "0" ? nullptr : r.mask.data() + k * px;
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_content(slice_png(r.gray.data() + k * px, mask, r.ny, r.nx), "image/png");
  });

  server.Get(kMaskPath, [&queue](const httplib::Request& req, httplib::Response& res) {
    JobSnapshot s;
    if (!finished_result(queue, req.matches[1], res, &s)) return;
    // display_name() left only [A-Za-z0-9._-]: safe inside the quoted header value.
    std::string stem = s.name;
    for (const char* ext : {".nii.gz", ".nii"}) {
      const std::string e(ext);
      if (stem.size() > e.size() && stem.compare(stem.size() - e.size(), e.size(), e) == 0) {
        stem.resize(stem.size() - e.size());
        break;
      }
    }
    res.set_header("Content-Disposition", "attachment; filename=\"" + stem + "_mask.nii.gz\"");
    res.set_content(s.result->mask_nifti_gz, "application/gzip");
  });
}

}  // namespace unet::apps::serve
