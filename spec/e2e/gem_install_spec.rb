# frozen_string_literal: true

require "spec_helper"
require "open3"
require "rbconfig"

# `gem build` + `gem install --local` as a user does it, on a machine where cargo is
# missing: the install succeeds, says why there is no extension, and the gem runs as
# a no-op. (The path with cargo is what the whole suite runs against in CI:
# `rake spec:installed` installs the gem with cargo and every spec then loads it.)
RSpec.describe "installing the gem" do
  it "succeeds without cargo, and require + the API work as a no-op with the reason logged" do
    Dir.mktmpdir("gemtest") do |dir|
      _, status = Open3.capture2e("gem", "build", "appsignal.gemspec", "--output", File.join(dir, "appsignal.gem"),
                                  chdir: SpecPaths::ROOT)
      expect(status).to be_success
      gem_home = File.join(dir, "home")
      path_without_cargo = ENV["PATH"].split(":").reject { |d| File.exist?(File.join(d, "cargo")) }.join(":")
      env = { "PATH" => path_without_cargo, "HOME" => dir, "GEM_HOME" => gem_home, "GEM_PATH" => gem_home }
      output, status = Open3.capture2e(env, "gem", "install", "--local", "--no-document", "--install-dir", gem_home,
                                       File.join(dir, "appsignal.gem"))
      expect(status).to be_success, output
      report = Dir[File.join(gem_home, "gems", "appsignal-*", "ext", "install.report")].first
      expect(File.read(report)).to include("cargo not found")

      script = 'require "appsignal"; p Appsignal.start; p Appsignal.monitor(action: "A#b") { 7 }'
      run_env = env.merge("APPSIGNAL_PUSH_API_KEY" => "key", "APPSIGNAL_LOG" => "stdout", "RUBYLIB" => nil)
      output, status = Open3.capture2e(run_env, RbConfig.ruby, "-e", script, chdir: dir)
      expect(status).to be_success, output
      expect(output).to include("cargo not found").and include("false\n7\n")
    end
  end

  it "loads the extension and agent from the installed gem when the suite runs against it",
     if: ENV.key?("APPSIGNAL_GEM_HOME") do
    expect($LOADED_FEATURES.grep(/appsignal_extension\.so\z/).first).to start_with(ENV["APPSIGNAL_GEM_HOME"])
    expect(Appsignal::ExtensionLoader.agent_path).to start_with(ENV["APPSIGNAL_GEM_HOME"])
  end
end
