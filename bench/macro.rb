# frozen_string_literal: true

# Throughput and p99 latency under wrk, Puma with 1 and 2 workers, for the
# hello-world Rack app, a Sinatra hello world and the Rails app, each served twice
# at once: APPSIGNAL_ACTIVE=false (the baseline) and active. Runs alternate between
# the two servers; the figure is the median of the runs.
#
#   ruby bench/macro.rb [--tsv]
#   BENCH_QUICK=1 (3 runs of 2 s) / BENCH_SMOKE=1 (Rack app, 1 worker, 1 run of 1 s)
#   BENCH_MACRO_APPS=rack,sinatra,rails  BENCH_MACRO_WORKERS=1,2  to choose
require_relative "support/bench_env"
require_relative "support/puma_server"
require_relative "support/wrk"

module MacroBench
  ROOT = BenchEnv::ROOT
  FIXTURES = File.join(ROOT, "spec", "fixtures")
  BENCH_DATABASE = "appsignal_bench"
  BASELINE = "APPSIGNAL_ACTIVE=false"

  APPS = {
    "rack" => { label: "Rack hello world", dir: "rack_app", path: "/hello" },
    "sinatra" => { label: "Sinatra hello world", dir: "sinatra_app", path: "/users/1" },
    "rails" => { label: "Rails posts#show (1 query)", dir: "rails_app", path: "/posts/1" }
  }.freeze

  SETTINGS = {
    full: { runs: 5, seconds: 5, apps: %w[rack sinatra rails], workers: [1, 2] },
    quick: { runs: 3, seconds: 2, apps: %w[rack sinatra rails], workers: [1, 2] },
    smoke: { runs: 1, seconds: 1, apps: %w[rack], workers: [1] }
  }.freeze

  module_function

  def settings
    defaults = SETTINGS.fetch(BenchEnv.scale)
    apps = ENV["BENCH_MACRO_APPS"]&.split(",") || defaults[:apps]
    workers = ENV["BENCH_MACRO_WORKERS"]&.split(",")&.map { |w| Integer(w) } || defaults[:workers]
    defaults.merge(apps: apps, workers: workers)
  end

  # The Rails app reads the `integ_rails_posts` table; the benchmark gets its own
  # database so it never touches the one the specs create and drop.
  def prepare_database
    require "pg"
    admin = PG.connect(host: "127.0.0.1", port: 5432, user: "postgres", dbname: "postgres")
    exists = admin.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", [BENCH_DATABASE]).ntuples.positive?
    admin.exec("CREATE DATABASE #{BENCH_DATABASE}") unless exists
    admin.close
    db = PG.connect(host: "127.0.0.1", port: 5432, user: "postgres", dbname: BENCH_DATABASE)
    db.exec(<<~SQL)
      CREATE TABLE IF NOT EXISTS integ_rails_posts (id bigserial PRIMARY KEY, title text NOT NULL,
                                                    created_at timestamp, updated_at timestamp);
      INSERT INTO integ_rails_posts (id, title, created_at, updated_at)
        VALUES (1, 'benchmark', now(), now()) ON CONFLICT (id) DO NOTHING;
    SQL
    db.close
  end

  def app_env(app, working_dir, endpoint)
    env = {
      "APPSIGNAL_PUSH_API_KEY" => "bench-key",
      "APPSIGNAL_APP_NAME" => "bench-#{app}",
      "APPSIGNAL_APP_ENV" => "production",
      "APPSIGNAL_PUSH_API_ENDPOINT" => endpoint,
      "APPSIGNAL_WORKING_DIRECTORY_PATH" => working_dir,
      "APPSIGNAL_LOG_PATH" => working_dir,
      "APPSIGNAL_ENABLE_HOST_METRICS" => "false",
      "RUBYLIB" => [File.join(ROOT, "lib"), ENV.fetch("RUBYLIB", nil)].compact.join(":")
    }
    if app == "rails"
      env["RAILS_ENV"] = "production"
      env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/#{BENCH_DATABASE}"
    end
    env
  end

  # Rows of [name, value, unit, baseline name, baseline value, ratio, note].
  def run
    config = settings
    prepare_database if config[:apps].include?("rails")
    rows = []
    BenchEnv.with_receiver do |endpoint|
      config[:apps].each do |app|
        config[:workers].each do |workers|
          rows.concat(compare(app, workers, endpoint, config))
        end
      end
    end
    rows
  end

  def compare(app, workers, endpoint, config)
    spec = APPS.fetch(app)
    working_dir = Dir.mktmpdir("asb-#{app}")
    servers = start_servers(spec, workers, app_env(app, working_dir, endpoint))
    results = { off: [], on: [] }
    config[:runs].times do |i|
      order = i.even? ? %i[off on] : %i[on off]
      order.each { |mode| results[mode] << Wrk.run(servers[mode].url, config[:seconds]) }
    end
    summarize(spec[:label], workers, results, servers.transform_values(&:worker_rss_mb))
  ensure
    servers&.each_value(&:stop)
    BenchEnv.stop_agent_in(working_dir) if working_dir
    FileUtils.rm_rf(working_dir) if working_dir
  end

  # Both servers run side by side for the whole comparison; runs alternate.
  def start_servers(spec, workers, base_env)
    dir = File.join(FIXTURES, spec[:dir])
    servers = {
      off: PumaServer.new(dir, workers, base_env.merge("APPSIGNAL_ACTIVE" => "false"), spec[:path]),
      on: PumaServer.new(dir, workers, base_env.merge("APPSIGNAL_ACTIVE" => "true"), spec[:path])
    }
    servers.each_value(&:start)
    servers.each_value { |s| Wrk.run(s.url, 1) } # warm-up
    servers
  rescue StandardError
    servers&.each_value(&:stop)
    raise
  end

  def median(values)
    sorted = values.compact.sort
    sorted.empty? ? Float::NAN : sorted[sorted.length / 2]
  end

  def summarize(label, workers, results, rss)
    off = medians(results[:off])
    on = medians(results[:on])
    name = "#{label}, Puma -w #{workers}"
    note = throughput_note(off, on, rss, (results[:off] + results[:on]).sum { |r| r[:errors] })
    [
      ["#{name}: throughput kept", on[:rps] / off[:rps] * 100, "%", BASELINE, 100.0, on[:rps] / off[:rps], note],
      ["#{name}: p99 latency", on[:p99_ms], "ms", BASELINE, off[:p99_ms], on[:p99_ms] / off[:p99_ms],
       format("p99 added %+.2f ms", on[:p99_ms] - off[:p99_ms])],
      rss_row(name, rss[:on] || Float::NAN, rss[:off] || Float::NAN)
    ]
  end

  def throughput_note(off, on, rss, errors)
    note = "req/s off #{off[:rps].round} on #{on[:rps].round}; worker RSS off #{rss[:off]} MB on #{rss[:on]} MB"
    errors.positive? ? "#{note}; #{errors} non-2xx/socket errors" : note
  end

  def medians(runs)
    { rps: median(runs.map { |r| r[:rps] }), p99_ms: median(runs.map { |r| r[:p99_ms] }) }
  end

  def rss_row(name, on, off)
    ["#{name}: worker RSS", on, "MB", BASELINE, off, on / off,
     format("added %+.1f MB per worker (target <= 5 MB)", on - off)]
  end
end

if $PROGRAM_NAME == __FILE__
  rows = MacroBench.run
  rows.each do |row|
    if ARGV.include?("--tsv")
      puts ["macro", row[0], format("%.2f", row[1]), row[2], row[3], format("%.2f", row[4]),
            format("%.3f", row[5]), "", row[6]].join("\t")
    else
      puts format("%-62<name>s %9.2<value>f %-3<unit>s vs %9.2<base>f  %<note>s",
                  name: row[0], value: row[1], unit: row[2], base: row[4], note: row[6])
    end
  end
end
