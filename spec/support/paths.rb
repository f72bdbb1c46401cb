# frozen_string_literal: true

# Where the specs find what cargo built. Override with the env vars to point at an
# installed gem's files; defaults are the workspace's target directory.
module SpecPaths
  ROOT = File.expand_path("../..", __dir__)

  module_function

  def target_dir
    ENV["CARGO_TARGET_DIR"] || File.join(ROOT, "target")
  end

  def test_receiver
    ENV["APPSIGNAL_TEST_RECEIVER"] || first_existing("appsignal-test-receiver")
  end

  def agent
    ENV["APPSIGNAL_AGENT_PATH"] || first_existing("appsignal-agent")
  end

  def first_existing(binary)
    %w[release debug].map { |profile| File.join(target_dir, profile, binary) }.find { |p| File.executable?(p) } ||
      raise("#{binary} not built: run `cargo build --release -p appsignal-testkit -p appsignal-agent` " \
            "or set the matching APPSIGNAL_* path env var")
  end

  # Env for a child Ruby process that must load the gem the same way this process did.
  def ruby_env
    env = {}
    if ENV["APPSIGNAL_GEM_HOME"]
      env["GEM_PATH"] = [ENV["APPSIGNAL_GEM_HOME"], *Gem.default_path].join(File::PATH_SEPARATOR)
    else
      env["RUBYLIB"] = [File.join(ROOT, "lib"), ENV.fetch("RUBYLIB", nil)].compact.join(File::PATH_SEPARATOR)
    end
    env
  end
end
