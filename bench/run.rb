# frozen_string_literal: true

# `rake bench`: every benchmark, one table. Each figure sits next to a baseline
# measured in the same run (the machine may be busy: read the ratios), and next to
# its target from the design where there is one.
#
#   ruby bench/run.rb [--markdown FILE] [--only micro,rust,agent,macro]
#   BENCH_QUICK=1   short runs (a few minutes)      BENCH_SMOKE=1  only proves each runs
#
# Sections (each also runs on its own):
#   micro  ruby [--yjit] bench/micro.rb   app-thread cost of the Ruby API, YJIT off and on
#   rust   appsignal-bench                extension core and agent internals, in-process
#   agent  appsignal-agent-load           the real agent under N clients: events/s/core, CPU%, RSS
#   macro  ruby bench/macro.rb            wrk against Puma: throughput kept, p99 added
require "open3"
require "rbconfig"
require_relative "support/bench_env"
require_relative "support/table"

module BenchRun
  ROOT = BenchEnv::ROOT
  RELEASE = File.join(BenchEnv::TARGET, "release")

  module_function

  def scale_flag
    { full: nil, quick: "--quick", smoke: "--smoke" }.fetch(BenchEnv.scale)
  end

  def sections
    ruby = RbConfig.ruby
    {
      "micro" => [
        [ruby, File.join(ROOT, "bench/micro.rb"), "--tsv"],
        [ruby, "--yjit", File.join(ROOT, "bench/micro.rb"), "--tsv"]
      ],
      "rust" => [[File.join(RELEASE, "appsignal-bench"), "--tsv", scale_flag].compact],
      "agent" => [[File.join(RELEASE, "appsignal-agent-load"), "--tsv", scale_flag,
                   "--agent", File.join(RELEASE, "appsignal-agent")].compact],
      "macro" => [[ruby, File.join(ROOT, "bench/macro.rb"), "--tsv"]]
    }
  end

  def build
    return if ENV["BENCH_NO_BUILD"] == "1"

    command = %w[cargo build --release -q -p appsignal-bench -p appsignal-agent -p appsignal-testkit]
    system(*command, chdir: ROOT) || abort("bench: `#{command.join(" ")}` failed")
    return if File.exist?(File.join(ROOT, "lib", "appsignal_extension.so"))

    abort("bench: lib/appsignal_extension.so is missing; run `rake compile` first")
  end

  # Runs one section's commands; each prints tab-separated rows on stdout.
  def run_section(name, commands)
    commands.flat_map do |command|
      warn "bench: #{name}: #{command.map { |c| File.basename(c) }.join(" ")}"
      out, err, status = Open3.capture3(*command, chdir: ROOT)
      unless status.success?
        warn err
        abort("bench: #{name} failed (#{status})")
      end
      out.lines.filter_map { |line| Table.parse(name, line) }
    end
  end

  def option(argv, name)
    argv.include?(name) ? argv[argv.index(name) + 1] : nil
  end

  def main(argv)
    only = option(argv, "--only")&.split(",") || sections.keys
    markdown = option(argv, "--markdown")
    build
    started = Time.now
    rows = sections.slice(*only).flat_map { |name, commands| run_section(name, commands) }
    table = Table.new(rows)
    puts table.to_text
    puts
    puts "#{Table.machine}; #{BenchEnv.scale} run in #{(Time.now - started).round} s"
    File.write(markdown, table.to_markdown) if markdown
    exit(rows.empty? ? 1 : 0)
  end
end

BenchRun.main(ARGV) if $PROGRAM_NAME == __FILE__
