#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright 2026 meshcap developers. Licensed under the Apache License, Version 2.0 (LICENSE in
# meshcap's source tree).
#
# The meshcap.vm.capture module: runs the meshcap binary on the target (diff, apply, verify,
# clean) and reports what it did. It never builds or reads firewall rules itself.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: capture
short_description: Apply or remove meshcap's Istio sidecar capture rules
version_added: "0.1.0"
description:
  - Puts the traffic capture rules of an Istio sidecar (as Istio's C(istio-iptables) would
    program them) in force on the target with the C(meshcap) binary, or removes them.
  - The module only runs C(meshcap); every rule is built, compared and applied by it.
  - "With I(state=present): C(meshcap diff) first. Exit 0 (the live rules are the config's)
    means nothing is changed and C(meshcap apply) is not run. Exit 1 (drift, no rules yet, or an
    interrupted apply) means the task is changed: in check mode nothing more is done, otherwise
    C(meshcap apply) runs."
  - With I(verify=true), C(meshcap verify --json) runs after that (also when nothing changed,
    not in check mode when a change is pending) and the task fails when it finds a problem.
  - "With I(state=absent): C(meshcap clean --dry-run) says what would be removed; only when it
    names something is the task changed and, outside check mode, C(meshcap clean) runs."
  - meshcap's exit 2 (bad input, such as a config value it refuses; nothing was changed) and
    exit 3 (the host refused or failed; a failed change is taken back) fail the task with
    meshcap's own message.
  - "Lines meshcap prints as C(meshcap: warning:) become Ansible warnings."
options:
  config:
    description:
      - Config files on the target (C(cluster.env) style C(KEY=VALUE) files), passed as
        C(--config) in this order; later files win.
      - Required with I(state=present). With I(state=absent) they are optional and let
        C(meshcap clean) also remove what Istio's own rules of that config left behind.
    type: list
    elements: path
  state:
    description:
      - C(present) puts the config's rules in force, C(absent) removes meshcap's rules and routing
        (and C(istio-iptables)' leftovers).
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - C(--backend) for meshcap. Unset, meshcap chooses (where the rules are, else C(nft)).
    type: str
    choices: [nft, iptables]
  netns:
    description:
      - "Network namespace to work in (C(--netns)): a name from C(ip netns list), or a path such as
        C(/proc/PID/ns/net). Unset, the namespace the module runs in."
    type: str
  verify:
    description:
      - Run C(meshcap verify --json) with the same config after I(state=present) and fail the task
        when it exits 1, quoting its problems. The parsed report is returned as C(verify).
    type: bool
    default: true
  binary:
    description:
      - The meshcap binary, a name looked up in C(PATH) (and the sbin directories) or a path.
    type: str
    default: meshcap
  passwd_file:
    description:
      - C(--passwd-file) for meshcap, where C(ENVOY_USER)'s UID is looked up. Default
        C(/etc/passwd).
    type: path
  group_file:
    description:
      - C(--group-file) for meshcap. Default C(/etc/group).
    type: path
  resolv_conf:
    description:
      - C(--resolv-conf) for meshcap, the DNS servers captured when DNS capture is on and
        C(DNS_SERVERS_V4/V6) are not set. Default C(/etc/resolv.conf).
    type: path
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - The diff is the unified diff C(meshcap diff) prints (the backend's own syntax), or the
        statements C(meshcap clean --dry-run) prints for I(state=absent).
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
notes:
  - Needs root on the target (C(become)), as meshcap does for every live command.
  - meshcap reads config keys and C(NETWORK_NAMESPACE) from its environment too (as
    C(istio-iptables) does), and they win over the config files; set them with the task's
    C(environment) keyword if you mean to, and keep them out of it otherwise.
  - The rules are applied by C(meshcap apply), which is idempotent and atomic per table and
    leaves other software's rules alone.
requirements:
  - meshcap on the target
author:
  - meshcap maintainers (!UNKNOWN)
'''

EXAMPLES = r'''
- name: Capture the VM's traffic for its sidecar
  meshcap.vm.capture:
    config:
      - /var/lib/istio/envoy/sidecar.env
      - /var/lib/istio/envoy/cluster.env
  become: true

- name: Same, in a network namespace, with iptables, without the verify step
  meshcap.vm.capture:
    config: [/etc/meshcap/app.env]
    netns: app
    backend: iptables
    verify: false

- name: Remove the capture (and istio-iptables' leftovers of that config)
  meshcap.vm.capture:
    state: absent
    config: [/var/lib/istio/envoy/cluster.env]

- name: What would change, without changing it
  meshcap.vm.capture:
    config: [/var/lib/istio/envoy/cluster.env]
  check_mode: true
  diff: true
  register: pending
'''

RETURN = r'''
changed:
  description: Whether the rules were (or in check mode would be) changed.
  returned: always
  type: bool
verify:
  description:
    - C(meshcap verify --json)'s report (schema C(meshcap.verify/v1)), when verify ran.
    - Its keys include C(healthy), C(rows), C(totals), C(problems) (each with C(kind) and
      C(message)), C(other_rules) and C(notes).
  returned: when I(verify=true) and I(state=present), except in check mode with a change pending
  type: dict
  sample:
    schema: meshcap.verify/v1
    source: nft
    healthy: true
    problems: []
commands:
  description: Every meshcap command the module ran, in order, with its exit status.
  returned: always
  type: list
  elements: dict
  contains:
    cmd:
      description: The command's arguments.
      type: list
      elements: str
    rc:
      description: Its exit status.
      type: int
  sample:
    - cmd: [/usr/bin/meshcap, diff, --config, /var/lib/istio/envoy/cluster.env]
      rc: 1
    - cmd: [/usr/bin/meshcap, apply, --config, /var/lib/istio/envoy/cluster.env]
      rc: 0
report:
  description: What C(meshcap apply) or C(meshcap clean) (or their dry run) said it did or would do, one line each.
  returned: when a change was made or is pending
  type: list
  elements: str
  sample:
    - "meshcap: applied with nft:"
    - "meshcap:   istio-proxy-nat: 15 rules in 6 chains"
diff:
  description: In diff mode, what would change or changed.
  returned: when changed and in diff mode
  type: dict
  contains:
    prepared:
      description: The unified diff of C(meshcap diff) (C(-) live, C(+) the config's), or C(meshcap clean --dry-run)'s statements.
      type: str
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

EXIT_MEANING = {
    1: 'a problem or drift was found',
    2: 'bad input: nothing was changed',
    3: 'the host refused or failed',
}


class Meshcap(object):
    def __init__(self, module):
        self.module = module
        self.commands = []
        self.warned = set()
        binary = module.params['binary']
        if os.sep in binary:
            if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
                module.fail_json(msg='meshcap binary %s is not an executable file' % binary, commands=[])
            self.binary = binary
        else:
            self.binary = module.get_bin_path(binary, required=True)

    def common(self, with_config=True):
        p = self.module.params
        args = []
        if with_config:
            for path in p['config'] or []:
                args += ['--config', path]
        for option, flag in (('backend', '--backend'), ('netns', '--netns'), ('passwd_file', '--passwd-file'),
                             ('group_file', '--group-file'), ('resolv_conf', '--resolv-conf')):
            if p[option]:
                args += [flag, p[option]]
        return args

    def run(self, subcommand, extra=(), ok=(0,)):
        cmd = [self.binary, subcommand] + self.common() + list(extra)
        rc, out, err = self.module.run_command(cmd)
        self.commands.append({'cmd': cmd, 'rc': rc})
        for line in err.splitlines():
            if line.startswith('meshcap: warning: ') and line not in self.warned:
                self.warned.add(line)
                self.module.warn(line[len('meshcap: '):])
        if rc not in ok:
            self.fail(subcommand, rc, out, err)
        return rc, out, err

    def fail(self, subcommand, rc, out, err, **extra):
        meaning = EXIT_MEANING.get(rc, 'unexpected exit status')
        message = err.strip() or out.strip() or '(no output)'
        self.module.fail_json(msg='meshcap %s exited %d (%s): %s' % (subcommand, rc, meaning, message),
                              rc=rc, stdout=out, stderr=err, commands=self.commands, **extra)


def report_lines(err):
    """meshcap's account of a change: its stderr without the namespace line and warnings."""
    return [line for line in err.splitlines()
            if line.strip() and not line.startswith('meshcap: in network namespace ')
            and not line.startswith('meshcap: warning: ')]


def statements(out):
    """The statements of a dry run: what is not blank and not a '#' comment."""
    return [line for line in out.splitlines() if line.strip() and not line.lstrip().startswith('#')]


def carry_out(module, meshcap, result, preview, err, subcommand, would, done):
    """A change meshcap previewed (diff, clean --dry-run): shown with --diff, left undone in
    check mode, else made by `subcommand`."""
    result['changed'] = True
    result['report'] = report_lines(err)
    if module._diff:
        result['diff'] = {'prepared': preview}
    if module.check_mode:
        result['msg'] = would
        return
    rc, out, err = meshcap.run(subcommand)
    result['report'] = report_lines(err)
    result['msg'] = done


def present(module, meshcap, result):
    rc, out, err = meshcap.run('diff', ok=(0, 1))
    if rc == 1:
        carry_out(module, meshcap, result, out, err, 'apply',
                  'the live rules are not the config\'s: meshcap apply would change them', 'applied')
        if module.check_mode:
            return
    else:
        result['msg'] = 'the live rules are the config\'s'
    if module.params['verify']:
        rc, out, err = meshcap.run('verify', ['--json'], ok=(0, 1))
        try:
            report = json.loads(out)
        except ValueError as e:
            meshcap.fail('verify', rc, out, err, verify_error='not JSON: %s' % e)
        result['verify'] = report
        if rc == 1:
            problems = report.get('problems') or []
            quoted = '; '.join('%s: %s' % (p.get('kind'), p.get('message')) for p in problems) or err.strip()
            result['msg'] = 'meshcap verify found %s: %s' % (
                'a problem' if len(problems) == 1 else '%d problems' % len(problems), quoted)
            result['commands'] = meshcap.commands
            module.fail_json(**result)


def absent(module, meshcap, result):
    rc, out, err = meshcap.run('clean', ['--dry-run'])
    if not statements(out):
        result['msg'] = 'nothing to clean'
        return
    carry_out(module, meshcap, result, out, err, 'clean', 'meshcap clean would remove rules', 'cleaned')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='list', elements='path'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            backend=dict(type='str', choices=['nft', 'iptables']),
            netns=dict(type='str'),
            verify=dict(type='bool', default=True),
            binary=dict(type='str', default='meshcap'),
            passwd_file=dict(type='path', no_log=False),
            group_file=dict(type='path'),
            resolv_conf=dict(type='path'),
        ),
        required_if=[('state', 'present', ('config',))],
        supports_check_mode=True,
    )
    if module.params['state'] == 'present' and not module.params['config']:
        module.fail_json(msg='state=present needs at least one config file')

    meshcap = Meshcap(module)
    result = dict(changed=False)
    if module.params['state'] == 'present':
        present(module, meshcap, result)
    else:
        absent(module, meshcap, result)
    result['commands'] = meshcap.commands
    module.exit_json(**result)


if __name__ == '__main__':
    main()
