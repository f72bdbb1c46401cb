# frozen_string_literal: true

# `ruby ext/build.rb build|install DIR|clean`: builds the extension and the agent
# with cargo (release), places `appsignal_extension.so` and `appsignal-agent` in
# ext/, and copies the .so to the directory RubyGems installs extensions from.
# Every failure is written to ext/install.report and exits 0 (see extconf.rb).
require "fileutils"
require "open3"

EXT_DIR = __dir__
ROOT = File.expand_path("..", EXT_DIR)
REPORT = File.join(EXT_DIR, "install.report")
BUILD_LOG = File.join(EXT_DIR, "extension_build.log")
SO_NAME = "appsignal_extension.so"

def report(message)
  File.write(REPORT, "#{Time.now.utc} #{message}\n")
  warn("appsignal: #{message}")
end

def cargo
  candidates = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, "cargo") }
  candidates << File.join(Dir.home, ".cargo", "bin", "cargo") if ENV["HOME"]
  candidates.find { |path| File.executable?(path) }
end

# The gem ships only the crates it builds; drop workspace members that are absent.
def trim_workspace
  manifest = File.join(ROOT, "Cargo.toml")
  text = File.read(manifest)
  members = text[/members\s*=\s*\[([^\]]*)\]/, 1].to_s.scan(/"([^"]+)"/).flatten
  present = members.select { |member| File.exist?(File.join(ROOT, member, "Cargo.toml")) }
  return if present == members

  File.write(manifest, text.sub(/members\s*=\s*\[[^\]]*\]/, "members = #{present.inspect}"))
end

def build
  File.delete(REPORT) if File.exist?(REPORT)
  cargo_path = cargo
  unless cargo_path
    return report("cargo not found on PATH; installed without the native extension (AppSignal will be a no-op)")
  end

  trim_workspace
  target_dir = ENV["APPSIGNAL_CARGO_TARGET_DIR"] || File.join(ROOT, "target")
  env = { "CARGO_TARGET_DIR" => target_dir }
  command = [cargo_path, "build", "--release", "-p", "appsignal-ext", "-p", "appsignal-agent"]
  output, status = Open3.capture2e(env, *command, chdir: ROOT)
  File.write(BUILD_LOG, output)
  unless status.success?
    return report("cargo build failed (see #{BUILD_LOG}): #{output.lines.last(5).join(" ").strip}")
  end

  place(File.join(target_dir, "release", "libappsignal_extension.so"), File.join(EXT_DIR, SO_NAME))
  place(File.join(target_dir, "release", "appsignal-agent"), File.join(EXT_DIR, "appsignal-agent"))
rescue SystemCallError, IOError => e
  report("building the extension failed: #{e.class}: #{e.message}")
end

# Copies beside the destination, then renames over it: a process that has the old
# .so mapped, or an agent running from the old binary, keeps its file intact
# (copying in place corrupts the one and fails with ETXTBSY on the other).
def place(source, destination)
  temporary = "#{destination}.#{Process.pid}.tmp"
  FileUtils.cp(source, temporary, preserve: true)
  File.rename(temporary, destination)
ensure
  FileUtils.rm_f(temporary) if temporary
end

def install(dest)
  so = File.join(EXT_DIR, SO_NAME)
  return unless File.exist?(so) && dest && !dest.empty?

  FileUtils.mkdir_p(dest)
  place(so, File.join(dest, SO_NAME))
rescue SystemCallError => e
  report("installing the extension failed: #{e.message}")
end

case ARGV[0]
when "build" then build
when "install" then install(ARGV[1])
when "clean" then nil
end
exit 0
