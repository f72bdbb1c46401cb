# frozen_string_literal: true

# Writes the Makefile RubyGems runs at `gem install`. There is no rb_sys gem here:
# the Makefile calls ext/build.rb, which drives cargo itself. Building never fails
# the install: without cargo, or when the build fails, the gem installs without its
# extension and runs as a no-op, and ext/install.report says why.
require "rbconfig"

ruby = RbConfig.ruby
build = File.join(__dir__, "build.rb")
# RubyGems loads its siteconf before this file, pointing sitearchdir at the gem's
# extension directory. A Makefile from mkmf would bake that value in; ours must too.
install_dir = RbConfig::CONFIG["sitearchdir"]

File.write("Makefile", <<~MAKEFILE)
  .PHONY: all install clean
  all:
  \t"#{ruby}" "#{build}" build
  install:
  \t"#{ruby}" "#{build}" install "#{install_dir}"
  clean:
  \t"#{ruby}" "#{build}" clean
MAKEFILE
