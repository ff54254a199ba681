// End-to-end encryption, server side: keys, cross-signing, device lists, to-device messages, key backup.
export { E2eKeys, type QueryResult } from './keys.ts'
export { CrossSigning } from './cross-signing.ts'
export { DeviceLists, markDeviceListsChanged } from './device-lists.ts'
export { ToDevice, TO_DEVICE_SYNC_LIMIT, type ToDeviceEvent, type ToDeviceBatch } from './to-device.ts'
export { KeyBackup } from './key-backup.ts'
export { DehydratedDevices } from './dehydrated-device.ts'
export { RemoteDeviceLists, parseUserDevices, type DeviceListUpdate, type DeviceListOutcome, type RemoteDeviceList, type UserDevicesFetch } from './remote-device-lists.ts'
export { RemoteE2eKeys, remoteTimeout } from './remote-keys.ts'
