# frozen_string_literal: true

require "spec_helper"

RSpec.describe Appsignal::Utils::DataSanitizer do
  it "filters matching keys at any depth, in hashes inside arrays too" do
    data = { "user" => { "password" => "hunter2", "name" => "Ann",
                         "cards" => [{ "number" => "4111", "token" => "t0k" }] }, :token => "top" }
    clean = described_class.sanitize(data, ["password", /tok/])
    expect(clean).to eq("user" => { "password" => "[FILTERED]", "name" => "Ann",
                                    "cards" => [{ "number" => "4111", "token" => "[FILTERED]" }] },
                        "token" => "[FILTERED]")
  end

  it "never serializes an unknown object's internals" do
    secret_holder = Struct.new(:secret).new("do-not-send")
    json = described_class.to_json({ "obj" => secret_holder, "sym" => :a, "n" => 1.5 })
    expect(json).not_to include("do-not-send")
    expect(JSON.parse(json)).to include("sym" => "a", "n" => 1.5)
  end

  it "filters the values of matching query string keys in URLs such as REQUEST_URI" do
    uri = "/search?q=shoes&password=hunter2&user%5Bpassword%5D=x&user[token]=t&flag&empty="
    expect(described_class.filter_query_string(uri, ["password", /tok/])).to eq(
      "/search?q=shoes&password=[FILTERED]&user%5Bpassword%5D=[FILTERED]&user[token]=[FILTERED]&flag&empty="
    )
    expect(described_class.filter_query_string("/plain", ["password"])).to eq("/plain")
    expect(described_class.filter_query_string("/bad?%ZZ=1", ["password"])).to eq("/bad?%ZZ=1")
  end

  it "bounds depth instead of recursing forever" do
    deep = []
    node = deep
    50.times { node << (node = []) }
    expect(described_class.to_json(deep)).to include("[MAX DEPTH]")
  end
end

RSpec.describe Appsignal::Utils::BacktraceCleaner do
  it "makes app lines relative and marks gem lines" do
    lines = ["/srv/app/app/models/user.rb:3:in `save'",
             "/usr/lib/ruby/gems/3.1.0/gems/activerecord-6.1.7/lib/active_record/base.rb:9:in `x'",
             "/usr/lib/ruby/3.1.0/set.rb:1"]
    expect(described_class.clean(lines, "/srv/app")).to eq(
      ["app/models/user.rb:3:in `save'", "[gem] activerecord-6.1.7/lib/active_record/base.rb:9:in `x'",
       "/usr/lib/ruby/3.1.0/set.rb:1"]
    )
  end
end

RSpec.describe Appsignal::Rack::QueueStart do
  it "reads seconds, milliseconds and microseconds" do
    expect(described_class.from_env("HTTP_X_REQUEST_START" => "t=1700000000.123")).to eq(1_700_000_000_123)
    expect(described_class.from_env("HTTP_X_REQUEST_START" => "t=1700000000123")).to eq(1_700_000_000_123)
    expect(described_class.from_env("HTTP_X_QUEUE_START" => "t=1700000000123456")).to eq(1_700_000_000_123)
    expect(described_class.from_env("HTTP_X_REQUEST_START" => "garbage")).to be_nil
  end
end

RSpec.describe Appsignal::WorkingDirectory do
  it "prefers the configured path, then Capistrano's shared/, then Heroku, then /tmp/appsignal" do
    Dir.mktmpdir do |base|
      release = File.join(base, "releases", "20240101")
      FileUtils.mkdir_p([release, File.join(base, "shared")])
      expect(described_class.resolve(configured: "/x/y", root_path: release)).to eq("/x/y")
      expect(described_class.resolve(configured: nil, root_path: release, env: {}))
        .to eq(File.join(base, "shared", "appsignal"))
      expect(described_class.resolve(configured: nil, root_path: base, env: { "DYNO" => "web.1" }))
        .to eq("/app/tmp/appsignal")
      expect(described_class.resolve(configured: nil, root_path: base, env: {})).to eq("/tmp/appsignal")
    end
  end

  it "creates the directory with the permissions asked for, and names the fix when it cannot" do
    Dir.mktmpdir do |base|
      open_dir = File.join(base, "open")
      closed_dir = File.join(base, "closed")
      expect(described_class.prepare(open_dir, world_accessible: true)).to be_nil
      expect(File.stat(open_dir).mode & 0o777).to eq(0o777)
      expect(described_class.prepare(closed_dir, world_accessible: false)).to be_nil
      expect(File.stat(closed_dir).mode & 0o777).to eq(0o755)
      File.write(File.join(base, "file"), "")
      expect(described_class.prepare(File.join(base, "file", "sub"), world_accessible: true))
        .to match(/APPSIGNAL_WORKING_DIRECTORY_PATH/)
    end
  end
end
