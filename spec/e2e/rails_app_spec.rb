# frozen_string_literal: true

require "spec_helper"
require "zlib"
require_relative "integration_helpers"

# A Rails 6.1 app (spec/fixtures/rails_app) with no AppSignal code at all: the gem
# is required after Rails (as Bundler does), config/appsignal.yml holds the key and
# name, and the spec only points the endpoint and working directory elsewhere. One
# Puma process serves every example (Rails boots slowly on two shared cores).
RSpec.describe "a Rails app under Puma" do
  before(:all) do
    pg_exec(<<~SQL)
      DROP TABLE IF EXISTS integ_rails_posts;
      CREATE TABLE integ_rails_posts (id bigserial PRIMARY KEY, title text NOT NULL,
                                      created_at timestamp, updated_at timestamp);
      INSERT INTO integ_rails_posts (title, created_at, updated_at) VALUES ('first', now(), now()), ('second', now(), now());
    SQL
    @receiver = PushReceiver.start
    @working_dir = make_working_dir
    @port = AppProcess.free_port
    env = {
      "RAILS_ENV" => "production",
      "APPSIGNAL_PUSH_API_ENDPOINT" => @receiver.endpoint,
      "APPSIGNAL_WORKING_DIRECTORY_PATH" => @working_dir,
      "APPSIGNAL_TRANSMISSION_INTERVAL" => "1",
      "APPSIGNAL_ENABLE_HOST_METRICS" => "false",
      "APPSIGNAL_LOG_PATH" => @working_dir
    }
    @app = AppProcess.new(["puma", "-e", "production", "-t", "1:2", "-b", "tcp://127.0.0.1:#{@port}", "config.ru"],
                          env: env, chdir: File.join(SpecPaths::ROOT, "spec/fixtures/rails_app"), port: @port).start
  end

  after(:all) do
    @app&.stop
    stop_agent(@working_dir) if @working_dir
    @receiver&.stop
    FileUtils.rm_rf(@working_dir) if @working_dir
    pg_exec("DROP TABLE IF EXISTS integ_rails_posts")
  end

  after do |example|
    if example.exception
      warn(@app.output)
      log = File.join(@working_dir, "appsignal.log")
      warn(File.read(log)) if File.exist?(log)
    end
  end

  it "starts from config/appsignal.yml with Rails.root and Rails.env" do
    expect(@app.get("/posts").code).to eq("200")
    wait_for_actions(@receiver, "PostsController#index" => 1)
    request = @receiver.requests.find { |r| r["path_and_query"].start_with?("/1/transmit") }
    query = URI.decode_www_form(request["path_and_query"].split("?", 2).last).to_h
    expect(query).to include("api_key" => "rails-fixture-key", "name" => "rails-fixture",
                             "environment" => "production")
  end

  it "names actions Controller#action and records ActiveRecord, view and cache events" do
    2.times { expect(@app.get("/posts").code).to eq("200") }
    expect(@app.get("/posts/1").code).to eq("200")
    payloads = wait_for_actions(@receiver, "PostsController#index" => 2, "PostsController#show" => 1)

    expect(action_minutes(payloads, "PostsController#show").map { |m| m["namespace"] }.uniq).to eq(["http_request"])
    expect(event_names(payloads, "PostsController#index")).to include(
      "process_action.action_controller", "sql.active_record", "render_template.action_view",
      "render_collection.action_view", "render_partial.action_view", "cache_read.active_support"
    )
    expect(event_names(payloads, "PostsController#index")).not_to include("sql.postgres")
    # Cache keys are app data ("user/42/..."): the event is there, its key is not.
    expect(@receiver.raw_bodies.map { |gz| Zlib.gunzip(gz) }.join).not_to include("posts/count")

    sample = samples_for(payloads, "PostsController#show").first
    sql = sample_events(sample).find { |e| e["name"] == "sql.active_record" && e["title"] == "Post Load" }
    expect(sql).not_to be_nil, "no `Post Load` query in #{sample_events(sample)}"
    expect(sql["body"]).to start_with('SELECT "integ_rails_posts".* FROM "integ_rails_posts" WHERE')
    render = sample_events(sample).find { |e| e["name"] == "render_template.action_view" }
    expect(render["title"]).to eq("app/views/posts/show.html.erb")
    expect(sample["metadata"]).to include("method" => "GET", "path" => "/posts/1", "response_status" => "200")
    expect(sample_params(sample)).to include("id" => "1", "controller" => "posts", "action" => "show")
  end

  it "records controller errors (behind Rails' own error pages) with the action" do
    expect(@app.get("/boom").code).to eq("500")
    payloads = wait_for_actions(@receiver, "PostsController#boom" => 1)
    expect(error_count(payloads, "PostsController#boom")).to eq(1)
    sample = samples_for(payloads, "PostsController#boom").find { |s| s["error"] }
    expect(sample["error"]["name"]).to eq("ArgumentError")
    expect(sample["error"]["message"]).to eq("boom from the Rails fixture")
    expect(sample["error"]["backtrace"].first).to include("app/controllers/posts_controller.rb")
  end

  it "filters params with Rails' filter_parameters and AppSignal's own list" do
    uri = URI("http://127.0.0.1:#{@port}/posts")
    response = Net::HTTP.post_form(uri, "title" => "hello", "password" => "hunter2",
                                        "password_confirmation" => "hunter2", "api_token" => "tok")
    expect(response.code).to eq("201")
    payloads = wait_for_actions(@receiver, "PostsController#create" => 1)
    params = sample_params(samples_for(payloads, "PostsController#create").first)
    expect(params).to include("title" => "hello", "password" => "[FILTERED]",
                              "password_confirmation" => "[FILTERED]", "api_token" => "[FILTERED]")
    expect(@receiver.raw_bodies.map { |b| Zlib.gunzip(b) }.join).not_to include("hunter2")
    sql = sample_events(samples_for(payloads, "PostsController#create").first)
          .map { |e| e["body"] }.grep(/INSERT/).first
    expect(sql).to include("INSERT INTO \"integ_rails_posts\"")
    expect(sql).not_to include("hello")
  end

  it "runs each Active Job as its own background_job transaction, errors included" do
    expect(@app.get("/enqueue").body).to eq("enqueued")
    payloads = wait_for_actions(@receiver, "GreetingJob#perform" => 1, "FailingJob#perform" => 1,
                                           "PostsController#enqueue" => 1)
    expect(action_minutes(payloads, "GreetingJob#perform").map { |m| m["namespace"] }.uniq).to eq(["background_job"])
    expect(event_names(payloads, "GreetingJob#perform")).to include("perform.active_job", "sql.active_record")
    expect(error_count(payloads, "FailingJob#perform")).to eq(1)
    expect(error_count(payloads, "PostsController#enqueue")).to eq(0)
    sample = samples_for(payloads, "FailingJob#perform").find { |s| s["error"] }
    expect(sample["error"]).to include("name" => "KeyError", "message" => "job failed for 42")
    expect(sample_params(sample)).to eq([42])
    expect(sample["tags"]).to include("queue" => "default")
  end

  it "records outgoing Net::HTTP requests without their path or query" do
    expect(@app.get("/outgoing?port=#{URI(@receiver.endpoint).port}").code).to eq("200")
    payloads = wait_for_actions(@receiver, "PostsController#outgoing" => 1)
    event = sample_events(samples_for(payloads, "PostsController#outgoing").first)
            .find { |e| e["name"] == "request.net_http" }
    expect(event["title"]).to eq("GET http://127.0.0.1:#{URI(@receiver.endpoint).port}")
  end
end
