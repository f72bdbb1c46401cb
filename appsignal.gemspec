# frozen_string_literal: true

require_relative "lib/appsignal/version"

Gem::Specification.new do |spec|
  spec.name = "appsignal"
  spec.version = Appsignal::VERSION
  spec.summary = "Performance monitoring and error tracking for Ruby apps, with a Rust extension and agent"
  spec.description = "A drop-in for the AppSignal Ruby gem's public API: Rack, Rails, Sinatra and Sidekiq " \
                     "integrations feed a native extension that reports to a local agent daemon."
  spec.authors = ["AppSignal-compatible APM developers"]
  spec.license = "MIT"
  spec.homepage = "https://example.invalid/appsignal-rust"
  spec.required_ruby_version = ">= 3.1"

  # The Rust sources the install builds from; tests, examples and build output stay out.
  rust_sources = Dir["{proto,ext,agent,testkit}/**/*.{rs,proto,toml}"].reject do |f|
    %w[/target/ /tests/ /examples/].any? { |dir| f.include?(dir) }
  end
  spec.files = Dir["lib/**/*.rb"] + Dir["bin/*"] + rust_sources +
               %w[Cargo.toml Cargo.lock ext/extconf.rb ext/build.rb README.md].select { |f| File.exist?(f) }
  spec.bindir = "bin"
  spec.executables = Dir["bin/*"].map { |f| File.basename(f) }
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/extconf.rb"]
end
