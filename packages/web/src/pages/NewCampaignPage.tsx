import {
  Button,
  Checkbox,
  Fieldset,
  Group,
  NumberInput,
  Radio,
  Select,
  Stack,
  Stepper,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import { useNavigate } from 'react-router';
import { api, unwrap } from '../api/client';
import { useSession } from '../auth/session';
import { FilterInput } from '../components/FilterInput';
import { NotAllowed } from '../components/NotAllowed';
import { ProblemAlert } from '../components/ProblemAlert';
import {
  ACTION_TYPES,
  type ActionType,
  type CampaignDraft,
  type CampaignType,
  errorThresholdText,
  type FieldErrors,
  initialDraft,
  LIMITS,
  newPhase,
  type PhaseDraft,
  STEPS,
  sizeText,
  type ThresholdDraft,
  toCreateBody,
  validateStep,
} from './campaign-form';

const ACTION_TYPE_TEXT: Record<ActionType, string> = {
  forced: 'Forced: install as soon as downloaded',
  soft: 'Soft: the device (or its user) may defer or reject',
  'download-only': 'Download only: fetch now, install later by another action',
  'time-forced': 'Time-forced: soft until a deadline, then forced',
};
const TYPE_TEXT: Record<CampaignType, string> = {
  'one-shot': 'One-shot: the devices matching when it starts',
  continuous: 'Continuous: devices that match later join until it is finished',
};

function localTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** A number input's value as the form keeps it ('' when empty). */
function num(value: string | number): number | '' {
  return value === '' ? '' : Number(value);
}

/** Error threshold: percent of the phase's targets, or a count of devices. */
function ThresholdInput({
  label,
  value,
  onChange,
  error,
  optional,
}: {
  label: string;
  value: ThresholdDraft;
  onChange: (value: ThresholdDraft) => void;
  error: string | undefined;
  optional?: boolean;
}) {
  return (
    <Group align="flex-start" gap="xs" wrap="nowrap">
      <NumberInput
        label={label}
        description={optional ? 'Empty: the campaign’s' : undefined}
        value={value.value}
        onChange={(v) => onChange({ ...value, value: num(v) })}
        min={value.kind === 'percent' ? 0 : 1}
        max={value.kind === 'percent' ? 100 : undefined}
        error={error}
        w={170}
      />
      <Select
        label={`${label}: unit`}
        data={[
          { value: 'percent', label: '% of the phase' },
          { value: 'count', label: 'devices' },
        ]}
        value={value.kind}
        allowDeselect={false}
        onChange={(kind) => onChange({ ...value, kind: kind === 'count' ? 'count' : 'percent' })}
        description={optional ? ' ' : undefined}
        w={200}
      />
    </Group>
  );
}

/**
 * `/campaigns/new`: the create wizard (release → targets → phases → delivery → review) ending in
 * a draft (POST /api/v1/campaigns), then the campaign's page.
 */
export function NewCampaignPage() {
  const { can } = useSession();
  const navigate = useNavigate();
  const [active, setActive] = useState(0);
  const [draft, setDraft] = useState<CampaignDraft>(() => initialDraft(localTimeZone()));
  const [errors, setErrors] = useState<FieldErrors>({});
  const headingRef = useRef<HTMLHeadingElement>(null);
  const allowed = can('campaigns:write');

  const releases = useQuery({
    queryKey: ['releases', 'all'],
    enabled: allowed,
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/releases', { params: { query: { limit: 500 } } })),
  });
  const groups = useQuery({
    queryKey: ['groups'],
    enabled: allowed && can('devices:read'),
    retry: false,
    queryFn: () => unwrap(api.GET('/api/v1/groups')),
  });
  const create = useMutation({
    mutationFn: (body: ReturnType<typeof toCreateBody>) =>
      unwrap(api.POST('/api/v1/campaigns', { body })),
    onSuccess: (campaign) => navigate(`/campaigns/${encodeURIComponent(campaign.id)}`),
  });

  if (!allowed) return <NotAllowed permission="campaigns:write" />;

  const set = (changes: Partial<CampaignDraft>) => setDraft((d) => ({ ...d, ...changes }));
  const setPhase = (index: number, changes: Partial<PhaseDraft>) =>
    setDraft((d) => ({
      ...d,
      phases: d.phases.map((p, i) => (i === index ? { ...p, ...changes } : p)),
    }));
  const go = (step: number) => {
    setActive(step);
    setErrors({});
    // Keyboard users land on the step's heading, not back at the top of the page.
    requestAnimationFrame(() => headingRef.current?.focus());
  };
  const next = () => {
    const found = validateStep(STEPS[active]!, draft);
    setErrors(found);
    if (Object.keys(found).length === 0) go(active + 1);
    else {
      const first = Object.keys(found)[0]!;
      requestAnimationFrame(() =>
        document.querySelector<HTMLElement>(`[data-field="${first}"] input`)?.focus(),
      );
    }
  };

  const release = releases.data?.items.find((r) => r.id === draft.releaseId);
  const releaseOptions =
    releases.data?.items.map((r) => ({
      value: r.id,
      label: `${r.version} (sequence ${r.sequenceNumber}, class ${r.deviceClassId})`,
    })) ?? [];
  const stepTitle = ['Release', 'Targets', 'Phases', 'Delivery', 'Review'][active] ?? 'Done';

  return (
    <section aria-labelledby="new-campaign-title">
      <Title id="new-campaign-title" order={1} size="h2" mb="md">
        New campaign
      </Title>
      <Stepper active={active} size="sm" mb="md" allowNextStepsSelect={false} onStepClick={go}>
        <Stepper.Step label="Release" description="Name and release" />
        <Stepper.Step label="Targets" description="Filter and groups" />
        <Stepper.Step label="Phases" description="Sizes, thresholds, soak" />
        <Stepper.Step label="Delivery" description="Action type and window" />
        <Stepper.Step label="Review" description="Create the draft" />
      </Stepper>
      <Title order={2} size="h3" mb="sm" tabIndex={-1} ref={headingRef}>
        {`Step ${active + 1} of ${STEPS.length}: ${stepTitle}`}
      </Title>

      {active === 0 && (
        <Stack maw={640}>
          <div data-field="name">
            <TextInput
              label="Name"
              required
              value={draft.name}
              maxLength={LIMITS.nameLength}
              onChange={(e) => set({ name: e.currentTarget.value })}
              error={errors.name}
            />
          </div>
          {releases.error && <ProblemAlert error={releases.error} title="Releases not loaded" />}
          <div data-field="releaseId">
            <Select
              label="Release"
              required
              searchable
              placeholder={releases.isPending ? 'Loading releases…' : 'Type a version'}
              nothingFoundMessage="No release matches"
              data={releaseOptions}
              value={draft.releaseId || null}
              onChange={(value) => set({ releaseId: value ?? '' })}
              error={errors.releaseId}
            />
          </div>
          <Radio.Group
            label="Campaign type"
            value={draft.type}
            onChange={(value) => set({ type: value === 'continuous' ? 'continuous' : 'one-shot' })}
          >
            <Stack gap={4} mt={4}>
              {(['one-shot', 'continuous'] as const).map((t) => (
                <Radio key={t} value={t} label={TYPE_TEXT[t]} />
              ))}
            </Stack>
          </Radio.Group>
        </Stack>
      )}

      {active === 1 && (
        <Stack maw={760}>
          <Text size="sm">
            The campaign takes the devices the filter selects, narrowed to the release's device
            class{release ? ` (${release.deviceClassId})` : ''} and to devices not decommissioned.
            <code> true</code> takes all of them.
          </Text>
          <div data-field="filter">
            <FilterInput value={draft.filter} onChange={(filter) => set({ filter })} />
            {errors.filter && (
              <Text size="sm" c="red.8" role="alert">
                {errors.filter}
              </Text>
            )}
          </div>
          {groups.error && <ProblemAlert error={groups.error} title="Groups not loaded" />}
          {groups.data && groups.data.items.length > 0 && (
            <Select
              label="Add a group to the filter"
              description="Appends “in this group” to the filter (combined with &&)."
              searchable
              data={groups.data.items.map((g) => g.name)}
              value={null}
              onChange={(name) => {
                if (!name) return;
                const clause = `${JSON.stringify(name)} in device.groups`;
                set({
                  filter: draft.filter.trim() ? `${draft.filter.trim()} && ${clause}` : clause,
                });
              }}
            />
          )}
        </Stack>
      )}

      {active === 2 && (
        <Stack>
          <Text size="sm">
            Each phase must pass (enough of its devices succeeded and stayed healthy for the soak)
            before the next starts; too many failures pause the campaign. Percentages are cumulative
            shares of all targets; a count adds that many devices.
          </Text>
          {errors.phases && (
            <Text c="red.8" role="alert">
              {errors.phases}
            </Text>
          )}
          {draft.phases.map((phase, i) => (
            <Fieldset key={phase.key} legend={`Phase ${i + 1}`}>
              <Group align="flex-start" gap="md">
                <div data-field={`phases.${i}.value`}>
                  <Group align="flex-start" gap="xs" wrap="nowrap">
                    <NumberInput
                      label={`Phase ${i + 1} size`}
                      value={phase.value}
                      onChange={(v) => setPhase(i, { value: num(v) })}
                      min={phase.size === 'percent' ? 0 : 1}
                      max={phase.size === 'percent' ? 100 : LIMITS.phaseCount}
                      error={errors[`phases.${i}.value`]}
                      w={150}
                    />
                    <Select
                      label={`Phase ${i + 1} size unit`}
                      data={[
                        { value: 'percent', label: '% of targets' },
                        { value: 'count', label: 'devices' },
                      ]}
                      value={phase.size}
                      allowDeselect={false}
                      onChange={(size) =>
                        setPhase(i, { size: size === 'count' ? 'count' : 'percent' })
                      }
                      w={150}
                    />
                  </Group>
                </div>
                <div data-field={`phases.${i}.successThreshold`}>
                  <NumberInput
                    label={`Phase ${i + 1} success threshold (%)`}
                    description="Empty: the campaign’s"
                    value={phase.successThreshold}
                    onChange={(v) => setPhase(i, { successThreshold: num(v) })}
                    min={0}
                    max={100}
                    error={errors[`phases.${i}.successThreshold`]}
                    w={230}
                  />
                </div>
                <div data-field={`phases.${i}.errorThreshold`}>
                  <ThresholdInput
                    label={`Phase ${i + 1} error threshold`}
                    value={phase.errorThreshold}
                    onChange={(errorThreshold) => setPhase(i, { errorThreshold })}
                    error={errors[`phases.${i}.errorThreshold`]}
                    optional
                  />
                </div>
              </Group>
              <Group align="flex-end" gap="md" mt="xs">
                <TextInput
                  label={`Phase ${i + 1} extra filter (optional)`}
                  description="Only targets that also match it, e.g. region by region"
                  value={phase.filter}
                  onChange={(e) => setPhase(i, { filter: e.currentTarget.value })}
                  spellCheck={false}
                  w={420}
                  styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
                />
                <Checkbox
                  label={`Phase ${i + 1}: wait for an operator when passed`}
                  checked={phase.manualGate}
                  onChange={(e) => setPhase(i, { manualGate: e.currentTarget.checked })}
                  mb={8}
                />
                <Button
                  variant="default"
                  color="red"
                  disabled={draft.phases.length === 1}
                  onClick={() => set({ phases: draft.phases.filter((_, j) => j !== i) })}
                >
                  {`Remove phase ${i + 1}`}
                </Button>
              </Group>
            </Fieldset>
          ))}
          <Group>
            <Button
              variant="default"
              disabled={draft.phases.length >= LIMITS.phases}
              onClick={() => set({ phases: [...draft.phases, newPhase('percent', 100)] })}
            >
              Add phase
            </Button>
          </Group>
          <Fieldset legend="Every phase (unless it says otherwise)">
            <Group align="flex-start" gap="md">
              <div data-field="successThreshold">
                <NumberInput
                  label="Success threshold (%)"
                  description="Share of a phase's devices that must succeed"
                  value={draft.successThreshold}
                  onChange={(v) => set({ successThreshold: num(v) })}
                  min={0}
                  max={100}
                  error={errors.successThreshold}
                  w={230}
                />
              </div>
              <div data-field="errorThreshold">
                <ThresholdInput
                  label="Error threshold"
                  value={draft.errorThreshold}
                  onChange={(errorThreshold) => set({ errorThreshold })}
                  error={errors.errorThreshold}
                />
              </div>
              <div data-field="soakMinutes">
                <NumberInput
                  label="Soak (minutes)"
                  description="Healthy this long after installing"
                  value={draft.soakMinutes}
                  onChange={(v) => set({ soakMinutes: num(v) })}
                  min={0}
                  max={LIMITS.soakMinutes}
                  error={errors.soakMinutes}
                  w={200}
                />
              </div>
              <div data-field="healthTimeoutMinutes">
                <NumberInput
                  label="Health timeout (minutes)"
                  description="Silent devices count as failed"
                  value={draft.healthTimeoutMinutes}
                  onChange={(v) => set({ healthTimeoutMinutes: num(v) })}
                  min={LIMITS.healthTimeoutMinutes.min}
                  max={LIMITS.healthTimeoutMinutes.max}
                  error={errors.healthTimeoutMinutes}
                  w={200}
                />
              </div>
            </Group>
          </Fieldset>
        </Stack>
      )}

      {active === 3 && (
        <Stack maw={760}>
          <Radio.Group
            label="Action type"
            value={draft.actionType}
            onChange={(value) =>
              set({ actionType: ACTION_TYPES.find((t) => t === value) ?? 'soft' })
            }
          >
            <Stack gap={4} mt={4}>
              {ACTION_TYPES.map((t) => (
                <Radio key={t} value={t} label={ACTION_TYPE_TEXT[t]} />
              ))}
            </Stack>
          </Radio.Group>
          {draft.actionType === 'time-forced' && (
            <div data-field="forceAfter">
              <TextInput
                type="datetime-local"
                label="Force the install after"
                description={`Your time zone (${localTimeZone()})`}
                value={draft.forceAfter}
                onChange={(e) => set({ forceAfter: e.currentTarget.value })}
                error={errors.forceAfter}
                w={280}
              />
            </div>
          )}
          <Checkbox
            label="Install only in a maintenance window"
            description="Devices may download any time but install only inside the window"
            checked={draft.windowEnabled}
            onChange={(e) => set({ windowEnabled: e.currentTarget.checked })}
          />
          {draft.windowEnabled && (
            <Group align="flex-start" gap="md">
              <div data-field="windowCron">
                <TextInput
                  label="Window opens (cron)"
                  description="minute hour day month weekday, e.g. 0 2 * * *"
                  value={draft.windowCron}
                  onChange={(e) => set({ windowCron: e.currentTarget.value })}
                  error={errors.windowCron}
                  spellCheck={false}
                  w={260}
                />
              </div>
              <div data-field="windowMinutes">
                <NumberInput
                  label="Window length (minutes)"
                  value={draft.windowMinutes}
                  onChange={(v) => set({ windowMinutes: num(v) })}
                  min={1}
                  error={errors.windowMinutes}
                  w={200}
                />
              </div>
              <div data-field="windowTimeZone">
                <TextInput
                  label="Window time zone"
                  description="IANA name, e.g. Europe/Berlin"
                  value={draft.windowTimeZone}
                  onChange={(e) => set({ windowTimeZone: e.currentTarget.value })}
                  error={errors.windowTimeZone}
                  w={220}
                />
              </div>
            </Group>
          )}
          <Text size="sm">
            Schedule: a draft does not start. Once it is approved, start it now or at a chosen time
            from the campaign's page (the service takes the start time when the campaign starts).
          </Text>
        </Stack>
      )}

      {active === 4 && (
        <Stack>
          <Review draft={draft} releaseLabel={release ? release.version : draft.releaseId} />
          {create.error && <ProblemAlert error={create.error} title="The draft was not created" />}
        </Stack>
      )}

      <Group mt="lg">
        {active > 0 && (
          <Button variant="default" onClick={() => go(active - 1)}>
            Back
          </Button>
        )}
        {active < STEPS.length - 1 ? (
          <Button onClick={next}>Next</Button>
        ) : (
          <Button loading={create.isPending} onClick={() => create.mutate(toCreateBody(draft))}>
            Create draft
          </Button>
        )}
      </Group>
    </section>
  );
}

/** Everything the wizard will send, in words. */
function Review({ draft, releaseLabel }: { draft: CampaignDraft; releaseLabel: string }) {
  const body = toCreateBody(draft);
  const rows: [string, string][] = [
    ['Name', body.name],
    ['Release', releaseLabel],
    ['Type', body.type ?? 'one-shot'],
    ['Filter', body.filter],
    ['Success threshold', `${body.successThreshold} %`],
    ['Error threshold', errorThresholdText(body.errorThreshold!)],
    ['Soak', `${draft.soakMinutes} min`],
    ['Health timeout', `${draft.healthTimeoutMinutes} min`],
    ['Action type', body.actionType ?? 'forced'],
    ...(body.forceAfter ? [['Force after', body.forceAfter] as [string, string]] : []),
    [
      'Maintenance window',
      body.recurringWindow
        ? `${body.recurringWindow.cron} for ${body.recurringWindow.durationSeconds / 60} min (${body.recurringWindow.timeZone})`
        : 'none: install any time',
    ],
  ];
  return (
    <>
      <Table aria-label="Campaign summary" withTableBorder maw={760}>
        <Table.Tbody>
          {rows.map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Th w={200}>{k}</Table.Th>
              <Table.Td>{k === 'Filter' ? <code>{v}</code> : v}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Table aria-label="Phases summary" withTableBorder maw={760}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Phase</Table.Th>
            <Table.Th>Size</Table.Th>
            <Table.Th>Success</Table.Th>
            <Table.Th>Error threshold</Table.Th>
            <Table.Th>Extra filter</Table.Th>
            <Table.Th>Operator gate</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {body.phases!.map((p, i) => (
            <Table.Tr key={draft.phases[i]!.key}>
              <Table.Td>{i + 1}</Table.Td>
              <Table.Td>{sizeText(p)}</Table.Td>
              <Table.Td>{`${p.successThreshold ?? body.successThreshold} %`}</Table.Td>
              <Table.Td>{errorThresholdText(p.errorThreshold ?? body.errorThreshold!)}</Table.Td>
              <Table.Td>{p.filter ? <code>{p.filter}</code> : '—'}</Table.Td>
              <Table.Td>{p.manualGate ? 'yes' : 'no'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </>
  );
}
