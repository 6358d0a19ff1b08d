// unet_serve: the original project's web app (upload a CT volume, get the liver segmentation) as
// one binary: a page with no external assets and a JSON API under /api, on cpp-httplib.
//   unet_serve --checkpoint FILE [--port 8080] [--host 127.0.0.1] [--device auto|cpu|cuda]
//              [--max-upload-mb 512] [--batch 8] [--threshold 0.5] [--largest-component]
//              [--keep-results 16] [--max-queue 8] [--tmp-dir DIR]
// Stops cleanly on SIGINT/SIGTERM (temp folder removed). docs/SERVE.md describes the API.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "apps/common/app_main.h"
#include "apps/unet_serve/serve_app.h"
#include "engine/device.h"
#include "workflow/checkpoint.h"

namespace unet::apps::serve {

void validate_options(const Options& o) {
  if (o.checkpoint.empty()) {
    throw std::invalid_argument("--checkpoint FILE is required (a .safetensors from unet_train)");
  }
  if (o.host.empty()) throw std::invalid_argument("--host must not be empty, e.g. 127.0.0.1");
  if (o.port < 0 || o.port > 65535) {
    throw std::invalid_argument("--port " + std::to_string(o.port) +
                                " must be in 0..65535 (0: any free port)");
  }
  if (!(o.max_upload_mb > 0 && o.max_upload_mb <= 1024 * 1024)) {
    throw std::invalid_argument("--max-upload-mb " + std::to_string(o.max_upload_mb) +
                                " must be in (0, 1048576], e.g. 512");
  }
  if (o.batch < 1) {
    throw std::invalid_argument("--batch " + std::to_string(o.batch) + " must be at least 1");
  }
  if (!(o.threshold > 0.0f && o.threshold < 1.0f)) {
    throw std::invalid_argument("--threshold " + std::to_string(o.threshold) +
                                " must be in (0, 1), e.g. 0.5");
  }
  if (o.keep_results < 1) {
    throw std::invalid_argument("--keep-results " + std::to_string(o.keep_results) +
                                " must be at least 1");
  }
  if (o.max_queue < 1) {
    throw std::invalid_argument("--max-queue " + std::to_string(o.max_queue) +
                                " must be at least 1");
  }
}

}  // namespace unet::apps::serve

namespace serve = unet::apps::serve;

namespace {

int g_stop_fd = -1;  // write end of the stop pipe, for the signal handler

extern "C" void on_stop_signal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  const int saved = errno;
  if (g_stop_fd >= 0) (void)!::write(g_stop_fd, &byte, 1);
  errno = saved;
}

// The self-pipe that turns SIGINT/SIGTERM into an ordinary read.
class StopPipe {
 public:
  StopPipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("cannot create a pipe (") + std::strerror(errno) + ")");
    }
    g_stop_fd = fds_[1];
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  ~StopPipe() {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    g_stop_fd = -1;
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  StopPipe(const StopPipe&) = delete;
  StopPipe& operator=(const StopPipe&) = delete;
  // Blocks until a signal (its number) or notify(0).
  int wait() {
    unsigned char byte = 0;
    while (::read(fds_[0], &byte, 1) < 0 && errno == EINTR) {
    }
    return byte;
  }
  void notify(int value) { on_stop_signal(value); }

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Serve a web page and JSON API that segment the liver in uploaded CT volumes"};
  serve::Options o;
  app.add_option("--checkpoint", o.checkpoint, "checkpoint written by unet_train (.safetensors)");
  app.add_option("--host", o.host, "address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  app.add_option("--port", o.port, "TCP port (0: any free port)")->capture_default_str();
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--max-upload-mb", o.max_upload_mb, "larger uploads are answered 413")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "slices per forward pass")->capture_default_str();
  app.add_option("--threshold", o.threshold, "liver where probability > threshold")
      ->capture_default_str();
  app.add_flag("--largest-component", o.largest_component,
               "keep only the largest 3-D connected component of each mask");
  app.add_option("--keep-results", o.keep_results, "finished results kept in memory")
      ->capture_default_str();
  app.add_option("--max-queue", o.max_queue, "volumes waiting at most (more: 503)")
      ->capture_default_str();
  app.add_option("--tmp-dir", o.tmp_dir, "where the private temp folder goes [default: $TMPDIR]");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return unet::apps::run_app("unet_serve", [&]() {
    serve::validate_options(o);
    signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server

    const unet::Device device = unet::parse_device(o.device);
    if (device.is_cuda()) unet::require_cuda("unet_serve --device " + o.device);
    const unet::workflow::CheckpointContents ckpt = unet::workflow::read_checkpoint(o.checkpoint);
    const unet::workflow::Preprocess preprocess = ckpt.preprocess();
    unet::model::UNet net = unet::workflow::load_model(ckpt);
    net.to(device);
    const std::string describe = net.config().describe();

    StopPipe stop_pipe;  // before the temp folder exists, so a signal always removes it
    serve::TempDir tmp(o.tmp_dir);
    serve::JobQueue queue(std::move(net), preprocess, o, tmp);
    httplib::Server server;
    // Long polls hold a thread each, so the pool is larger than httplib's default.
    server.new_task_queue = [] { return new httplib::ThreadPool(32); };
    server.set_payload_max_length(static_cast<size_t>(o.max_upload_mb * 1024 * 1024));
    server.set_read_timeout(30);
    server.set_write_timeout(30);
    serve::add_routes(server, queue, o, tmp);
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::cout << "unet_serve: " << req.method << " " << req.path << " " << res.status
                << std::endl;
    });

    int port = o.port;
    if (port == 0) {
      port = server.bind_to_any_port(o.host);
    } else if (!server.bind_to_port(o.host, port)) {
      port = -1;
    }
    if (port < 0) {
      throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                               " (address in use or not allowed); pass another --port or --host");
    }
    std::cout << "unet_serve: " << o.checkpoint << " (" << describe << ", "
              << preprocess.slice.height << "x" << preprocess.slice.width << ") on "
              << queue.device() << ", upload limit " << o.max_upload_mb << " MB\n"
              << "unet_serve: listening on http://" << o.host << ":" << port << "/" << std::endl;

    // SIGINT/SIGTERM: the handler only writes the signal number to a pipe (async-signal-safe);
    // a thread reading it stops the server from ordinary code. (sigwait would need the signals
    // blocked in every thread, and OpenBLAS/OpenMP start theirs before main.)
    std::thread stopper([&] {
      const int sig = stop_pipe.wait();
      if (sig > 0) std::cout << "unet_serve: signal " << sig << ", stopping" << std::endl;
      queue.shutdown();  // wakes long polls so the server's threads can finish
      server.stop();
    });
    const bool ok = server.listen_after_bind();
    stop_pipe.notify(0);  // listen ended by itself: release the stopper thread
    stopper.join();
    std::cout << "unet_serve: stopped" << std::endl;
    return ok ? 0 : 1;
  });
}
